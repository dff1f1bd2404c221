package main

import (
	"encoding/json"
	"net"
	"path/filepath"
	"testing"

	"github.com/udpchat/udpchat/dgram/seq"
)

// TestReliableTransferCountsOnlyItsOwnCorruption: listen --reliable's
// per-transfer JSON counts the corrupt packets of that transfer, not the
// junk that anyone else sent to the socket (which the summary counts, as
// ignored). A transfer from a clean sender after 25 corrupt arq packets
// from a stranger had "corrupt_packets":25.
func TestReliableTransferCountsOnlyItsOwnCorruption(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.bin")
	l := startChild(t, "listen", "127.0.0.1:0", "--reliable", "--output", out, "--json")
	laddr := l.expectErr(`listening on (\S+)`)[1]

	// A stranger: arq DATA packets whose CRC-32C is wrong, queued on the
	// listener's socket before the sender's first packet.
	junk, err := net.Dial("udp", laddr)
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	const strangers = 25
	for i := range strangers {
		b := seq.Header{Type: 18, Seq: uint64(i)}.Append(nil)
		b = append(b, 1, 2, 3, 4) // connection ID
		b = append(b, 0)          // flags
		b = append(b, "not really data"...)
		b = append(b, 0xde, 0xad, 0xbe, 0xef) // not its CRC-32C
		if _, err := junk.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	src := testFile(t, 64<<10, 3)
	if code, _, errs := runCLI(t, "", "send", laddr, "--file", src); code != 0 {
		t.Fatalf("send: exit %d: %s", code, errs)
	}
	var tr, sum map[string]any
	for tr == nil || sum == nil {
		line := l.expectOut(`^\{"type":"(transfer|summary)".*`)[0]
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if m["type"] == "transfer" {
			tr = m
		} else {
			sum = m
		}
	}
	if code := l.wait(); code != 0 {
		t.Errorf("listen: exit %d", code)
	}
	ignored, _ := sum["ignored"].(map[string]any)
	if ignored["corrupt"] != float64(strangers) {
		t.Errorf("summary: ignored %v, want %d corrupt", sum["ignored"], strangers)
	}
	if n, ok := tr["corrupt_packets"].(float64); !ok || n != 0 {
		t.Errorf("transfer: corrupt_packets %v, want 0: the stranger's packets are not the transfer's (%v)", tr["corrupt_packets"], tr)
	}
}
