package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// faults are scripted faults on exact datagrams, numbered from 1 in the
// order they arrive: "drop 3,5; dup 7; swap 9; delay 4:300ms".
type faults struct {
	drop, dup, swap map[int]bool
	delay           map[int]time.Duration
}

func parseFaults(s string) (*faults, error) {
	f := &faults{drop: map[int]bool{}, dup: map[int]bool{}, swap: map[int]bool{}, delay: map[int]time.Duration{}}
	for _, clause := range strings.Split(s, ";") {
		words := strings.Fields(clause)
		if len(words) == 0 {
			continue
		}
		if len(words) != 2 {
			return nil, fmt.Errorf("bad clause %q", clause)
		}
		for _, item := range strings.Split(words[1], ",") {
			num, arg, _ := strings.Cut(item, ":")
			n, err := strconv.Atoi(num)
			if err != nil {
				return nil, err
			}
			switch words[0] {
			case "drop":
				f.drop[n] = true
			case "dup":
				f.dup[n] = true
			case "swap":
				f.swap[n] = true
			case "delay":
				d, err := time.ParseDuration(arg)
				if err != nil {
					return nil, err
				}
				f.delay[n] = d
			default:
				return nil, fmt.Errorf("unknown fault %q", words[0])
			}
		}
	}
	return f, nil
}

// apply decides the fate of datagram i (from 1) and forwards through send.
// held keeps a datagram held back by swap; timers collects delayed sends.
type applier struct {
	f      *faults
	mu     sync.Mutex
	i      int
	held   []byte
	timers []*time.Timer
}

func (a *applier) apply(b []byte, send func([]byte)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.i++
	i := a.i
	b = append([]byte(nil), b...)
	switch {
	case a.f.drop[i]:
	case a.f.swap[i]:
		a.held = b
		return
	case a.f.delay[i] > 0:
		a.timers = append(a.timers, time.AfterFunc(a.f.delay[i], func() { send(b) }))
	default:
		send(b)
		if a.f.dup[i] {
			send(b)
		}
	}
	if a.held != nil {
		send(a.held)
		a.held = nil
	}
}

func (a *applier) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.timers {
		t.Stop()
	}
}

// cmdRelay runs `relay NAME DEST FAULTS`: a one-way relay from $NAME to
// DEST applying the scripted faults, in the test process.
func cmdRelay(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: relay NAME DEST FAULTS")
	}
	f, err := parseFaults(args[2])
	ts.Check(err)
	in, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	ts.Check(err)
	dst, err := net.ResolveUDPAddr("udp", args[1])
	ts.Check(err)
	out, err := net.DialUDP("udp", nil, dst)
	ts.Check(err)
	a := &applier{f: f}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := in.ReadFromUDP(buf)
			if err != nil {
				return
			}
			a.apply(buf[:n], func(b []byte) { out.Write(b) })
		}
	}()
	ts.Defer(func() {
		in.Close()
		<-done
		a.stop()
		out.Close()
	})
	ts.Setenv(args[0], in.LocalAddr().String())
}

// cmdEchoServer runs `echoserver NAME [FAULTS]`: a plain echo server, as
// any language's ten-line example, whose replies suffer the scripted faults.
func cmdEchoServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: echoserver NAME [FAULTS]")
	}
	spec := ""
	if len(args) == 2 {
		spec = args[1]
	}
	f, err := parseFaults(spec)
	ts.Check(err)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	ts.Check(err)
	a := &applier{f: f}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			a.apply(buf[:n], func(b []byte) { c.WriteToUDP(b, from) })
		}
	}()
	ts.Defer(func() {
		a.stop()
		c.Close()
		<-done
	})
	ts.Setenv(args[0], c.LocalAddr().String())
}
