package room

import (
	"net"
	"net/netip"
	"time"
)

// A room endpoint (Server, Member, Group) reads and writes its socket as
// a dgram.BatchConn: a UDP socket from dgram.NewConn, or a wrapper of one
// (netem.Conn to impair it in tests). It never closes it: whoever opened
// the socket closes it after the endpoint's Close. A server on a wildcard
// address needs dgram.ConnConfig.Dst, so that it learns the address each
// member contacted and answers from it.

// route is how a reply reaches a peer: from the local address the peer
// contacted, through the interface it came in on (zero: as the kernel
// chooses).
type route struct {
	local   netip.AddrPort
	ifindex int
}

// Clock is the time a room endpoint runs on. Tests pass one they
// advance by hand; the zero Config uses the system clock.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reads t or
	// later. (An absolute time, so that a clock moved by a test between
	// Now and At cannot make a timer late.)
	At(t time.Time) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                  { return time.Now() }
func (systemClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// addrPortOf returns a net.Addr's address and port, or the zero value.
func addrPortOf(a net.Addr) netip.AddrPort {
	if ua, ok := a.(*net.UDPAddr); ok {
		return unmapAP(ua.AddrPort())
	}
	return netip.AddrPort{}
}
