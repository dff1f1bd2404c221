package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udpchat/udpchat/dgram/bench"
	"github.com/udpchat/udpchat/dgram/seq"
)

// evilText is what a hostile peer puts in the words it sends back: an
// ANSI colour, an OSC that sets the terminal's title, the 8-bit CSI, DEL,
// a byte that is not UTF-8 and a line break.
const evilText = "EVIL\x1b[31mRED\x1b]0;owned\x07 c1:\u009b31m del:\x7f bad:\xff\nsecond line"

// noTerminalControls fails when out holds a byte a terminal would act on
// instead of showing: a C0 control other than a line end, DEL, or the
// UTF-8 encoding of a C1 control.
func noTerminalControls(t *testing.T, what, out string) {
	t.Helper()
	for i := 0; i < len(out); i++ {
		c := out[i]
		if c < 0x20 && c != '\n' || c == 0x7f || c == 0xc2 && i+1 < len(out) && out[i+1] >= 0x80 && out[i+1] < 0xa0 {
			t.Errorf("%s holds the control byte %#x at %d: %q", what, c, i, out)
			return
		}
	}
}

// TestErrorEscapesPeerText: a bench server that refuses the test with
// terminal escapes in its reason cannot recolour, retitle or clear the
// client's terminal: the error line shows them escaped. Before, the
// reason went to stderr as it came.
func TestErrorEscapesPeerText(t *testing.T) {
	srv := udpSocket(t, "127.0.0.1:0")
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed by the test's cleanup
			}
			j, _ := json.Marshal(bench.Control{Op: "refused", Error: evilText})
			_, _ = srv.WriteToUDPAddrPort(append(seq.Header{Type: bench.TypeControl}.Append(nil), j...), from)
		}
	}()
	code, _, stderr := runProcess(t, nil, "bench", "client", srv.LocalAddr().(*net.UDPAddr).AddrPort().String(), "--duration", "1s")
	if code != 1 || !strings.Contains(stderr, "refused the test") {
		t.Fatalf("bench client against a refusing server: exit %d, stderr %q", code, stderr)
	}
	noTerminalControls(t, "stderr", stderr)
	if want := `EVIL\x1b[31mRED\x1b]0;owned\x07 c1:\u009b31m del:\x7f bad:` + "\uFFFD" + `; second line`; !strings.Contains(stderr, want) { // JSON made the bad byte U+FFFD
		t.Errorf("stderr %q does not show the reason escaped as %q", stderr, want)
	}
}

// TestReliableSenderQuotesSavedName: the name a receiver says it saved a
// file under is the receiver's word (here its --output, a legal Linux
// file name with an escape sequence in it): the sender shows it quoted.
// Before, it went to the sender's terminal as it came.
func TestReliableSenderQuotesSavedName(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(src, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "saved\x1b[31mred\u009b1m.txt")
	l := startChild(t, "listen", "127.0.0.1:0", "--reliable", "--output", out)
	addr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]
	code, _, stderr := runProcess(t, nil, "send", addr, "--file", src)
	if code != 0 {
		t.Fatalf("send --file: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("the receiver did not save the file: %v", err)
	}
	noTerminalControls(t, "stderr", stderr)
	if want := `saved as "saved\x1b[31mred\u009b1m.txt"`; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not show the name quoted as %s", stderr, want)
	}
}
