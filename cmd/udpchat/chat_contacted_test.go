package main

import (
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
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

// TestChatBindAnswersLaterPeerFromContactedAddress: the address to answer
// from is kept with the peer, whoever came before it. Before, it was kept
// in a table of the first 65 senders, and a peer that came after 64
// strangers (here, sockets that each send one datagram) was answered from
// 127.0.0.1 when it had written to 127.0.0.2: its connected socket never
// saw the answer.
func TestChatBindAnswersLaterPeerFromContactedAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address on Linux only")
	}
	b := startChild(t, "chat", "--bind", "0.0.0.0:0", "--peer-idle", "200ms")
	addr := b.expectErr(`listening on (\S+) \(UDP\)`)[1]
	port := addr[strings.LastIndex(addr, ":")+1:]
	a1 := startChild(t, "chat", "127.0.0.1:"+port)
	a1.say("first")
	b.expectOut(`^127\.0\.0\.1:\d+> first$`)
	for range maxRefusedShown {
		s := udpSocket(t, "127.0.0.1:0")
		if _, err := s.WriteToUDPAddrPort([]byte("junk"), netip.MustParseAddrPort("127.0.0.1:"+port)); err != nil {
			t.Fatal(err)
		}
		b.expectErr(`^refused a datagram from ` + regexp.QuoteMeta(s.LocalAddr().String()) + `:`)
	}
	// a2 writes to the second address until a1 counts as idle and a2
	// becomes the peer
	a2 := startChild(t, "chat", "127.0.0.2:"+port)
	from2 := a2.expectErr(`^chatting with \S+ from (\S+);`)[1]
	switched := regexp.MustCompile(`^now chatting with ` + regexp.QuoteMeta(from2) + ` instead of`)
	deadline := time.After(exitTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	a2.say("me too")
	for done := false; !done; {
		select {
		case line, ok := <-b.stderr:
			if !ok {
				t.Fatal("chat --bind ended")
			}
			done = switched.MatchString(line)
		case <-tick.C:
			a2.say("me too")
		case <-deadline:
			t.Fatal("a2 never became the peer")
		}
	}
	b.say("hello a2")
	a2.expectOut(`^127\.0\.0\.2:` + port + `> hello a2$`)
}
