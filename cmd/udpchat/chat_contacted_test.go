package main

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestChatBindAnswersFromContactedAddress: chat --bind on every address
// answers its peer from the address the peer wrote to (127.0.0.2 here),
// which the peer's connected socket requires; before, the answer left from
// 127.0.0.1 and never arrived.
func TestChatBindAnswersFromContactedAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address on Linux only")
	}
	b := startChild(t, "chat", "--bind", "0.0.0.0:0")
	addr := b.expectErr(`listening on (\S+) \(UDP\)`)[1]
	to := "127.0.0.2:" + addr[strings.LastIndex(addr, ":")+1:]
	a := startChild(t, "chat", to)
	a.say("hello")
	b.expectOut(`^127\.0\.0\.1:\d+> hello$`)
	b.say("hi from the second address")
	a.expectOut(`^` + regexp.QuoteMeta(to) + `> hi from the second address$`)
	a.say("exit")
	if code := a.wait(); code != 0 {
		t.Errorf("chat A exit status %d", code)
	}
}
