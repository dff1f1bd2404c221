package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/pmtu"
)

// dfFlagUsage is send's --df.
const dfFlagUsage = "set don't-fragment (IP_PMTUDISC_DO, IPV6_DONTFRAG): a datagram too big for the path fails, naming the path MTU, instead of being fragmented"

// dfLinger is how long send --df waits after its last datagram for the
// network's answer: a router's ICMP "fragmentation needed" reaches the
// socket a round trip after the datagram it refused.
const dfLinger = 300 * time.Millisecond

// pathMTUError explains EMSGSIZE on a socket with don't-fragment set.
type pathMTUError struct {
	dst     netip.Addr
	mtu     int // the path MTU the kernel knows; 0 if unknown
	payload int
	err     error
}

func (e *pathMTUError) Error() string {
	if e.mtu <= 0 {
		return fmt.Sprintf("the path to %s carries less than this datagram, and --df forbids fragmenting it; send less", e.dst)
	}
	return fmt.Sprintf("the path to %s carries at most %d bytes: %d of payload; send less (--df forbids fragmenting; udpchat mtu shows the path)", e.dst, e.mtu, e.payload)
}

func (e *pathMTUError) Unwrap() error { return e.err }

// dfError turns err into a pathMTUError when it is EMSGSIZE (the kernel
// knows the path MTU, from the route or from ICMP), and returns it
// unchanged otherwise.
func dfError(c *net.UDPConn, dst netip.AddrPort, err error) error {
	var already *pathMTUError
	if !errors.Is(err, dgram.ErrTooLong) || errors.As(err, &already) {
		return err
	}
	mtu, merr := pmtu.PathMTU(c)
	if merr != nil {
		mtu = 0
	}
	return &pathMTUError{dst: dst.Addr(), mtu: mtu, payload: mtu - overhead(dst), err: err}
}

// dfLingerRead waits dfLinger for an error the network reports on c (an
// ICMP answer to a datagram already sent): too big, or nobody listening.
// Datagrams that arrive meanwhile are read and ignored.
func dfLingerRead(ctx context.Context, c *net.UDPConn, dst netip.AddrPort, cp *capture, ex *explainer) error {
	r := dgram.NewReader(c, 0)
	r.SetTracer(ex.tracer())
	deadline := time.Now().Add(dfLinger)
	for range 1024 { // bounded: a flood of replies cannot keep us here
		d, err := r.ReadContext(ctx, deadline)
		switch {
		case err == nil:
			cp.receivedOn(c, d)
			continue
		case ctx.Err() != nil, errors.Is(err, dgram.ErrTimeout):
			return nil
		case errors.Is(err, dgram.ErrTooLong):
			return fmt.Errorf("a datagram did not arrive: %w", dfError(c, dst, err))
		}
		return err
	}
	return nil
}
