package main

import (
	"encoding/json"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/udpchat/udpchat/dgram/seq"
)

// TestListenReportsKernelDrops overflows a tiny receive buffer: what listen
// received plus what the kernel says it dropped is exactly what was sent,
// so a user can tell a receiver that could not keep up from network loss.
func TestListenReportsKernelDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the drop counter is Linux only")
	}
	l := startChild(t, "listen", "127.0.0.1:0", "--seq", "--json", "--rcvbuf", "1", "--timeout", "1s")
	l.expectErr(`^SO_RCVBUF: asked for 1 bytes, the kernel granted \d+`)
	addr := l.expectErr(`listening on (\S+)`)[1]
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const sent = 2000
	b := make([]byte, 1000)
	for i := range sent {
		seq.Header{Seq: uint64(i)}.Put(b)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	var datagrams int
	var sum struct {
		Type        string  `json:"type"`
		Peer        *string `json:"peer"`
		Datagrams   uint64  `json:"datagrams"`
		RcvbufDrops *uint64 `json:"rcvbuf_drops"`
		Lost        uint64  `json:"lost"`
	}
	var peerLost uint64
	for line := range l.stdout {
		if strings.Contains(line, `"type":"datagram"`) {
			datagrams++
			continue
		}
		var s = sum
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if s.Peer != nil {
			peerLost = s.Lost
		} else {
			sum = s
		}
	}
	if code := l.wait(); code != 0 {
		t.Fatalf("listen exit status %d", code)
	}
	if sum.RcvbufDrops == nil {
		t.Fatal("no rcvbuf_drops in the summary")
	}
	drops := *sum.RcvbufDrops
	if uint64(datagrams) != sum.Datagrams || sum.Datagrams+drops != sent {
		t.Errorf("printed %d datagrams, summary %d + %d kernel drops; want %d in all", datagrams, sum.Datagrams, drops, sent)
	}
	// The tracker's losses are the drops it could see: all but the trailing ones.
	if peerLost > drops {
		t.Errorf("tracker lost %d > kernel drops %d", peerLost, drops)
	}
	t.Logf("received %d, kernel dropped %d, tracker saw %d lost", sum.Datagrams, drops, peerLost)
}
