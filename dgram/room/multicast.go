package room

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/udpchat/udpchat/dgram"
)

// DefaultTTL is the TTL (hop limit) of a multicast room's datagrams: 1,
// this link only.
const DefaultTTL = 1

// GroupSocket is the socket of a multicast room.
type GroupSocket struct {
	*dgram.Conn
	// Group is the group's address and port (the port the kernel picked,
	// when ListenGroup was given port 0).
	Group netip.AddrPort
	// Iface is the interface it joined on and sends through.
	Iface *net.Interface
	// Source is the address the kernel puts on what the socket sends (it
	// is bound to the wildcard address): the unspecified address when
	// Iface has none it would use; invalid when it cannot be told.
	Source netip.Addr
	// TTL is the TTL (hop limit) it sends with.
	TTL int
}

// ListenGroup opens a socket for the multicast room at group on the
// interface ifi, which must be given: without one, multicast follows the
// default route off this machine. It binds group's port with
// SO_REUSEADDR (so that several members on one host share it), joins the
// group on ifi, sends through ifi with multicast loopback on (so that
// those members hear each other) and the given TTL (0: DefaultTTL). The
// caller closes the socket (GroupSocket.Close). Port 0 picks a free port (see the Group
// field).
func ListenGroup(group netip.AddrPort, ifi *net.Interface, ttl int) (*GroupSocket, error) {
	if !group.Addr().IsMulticast() {
		return nil, fmt.Errorf("room: %s is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8; 239.255.0.0/16 is for local use)", group.Addr())
	}
	if ifi == nil {
		return nil, fmt.Errorf("room: a multicast room needs an interface: without one, multicast follows the default route off this machine")
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if ttl > 255 {
		return nil, fmt.Errorf("room: TTL %d is over 255", ttl)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = reuseAddr(fd) })
		if err != nil {
			return err
		}
		return serr
	}}
	netw, bind := "udp4", netip.AddrPortFrom(group.Addr(), group.Port())
	if group.Addr().Is6() {
		netw = "udp6"
		bind = netip.AddrPortFrom(group.Addr().WithZone(ifi.Name), group.Port())
	}
	pc, err := lc.ListenPacket(context.Background(), netw, bind.String())
	if err != nil {
		return nil, fmt.Errorf("room: listen on %s: %w", group, err)
	}
	c := pc.(*net.UDPConn)
	ga := &net.UDPAddr{IP: group.Addr().AsSlice()}
	if group.Addr().Is4() {
		p := ipv4.NewPacketConn(c)
		err = firstErr(p.JoinGroup(ifi, ga), p.SetMulticastInterface(ifi), p.SetMulticastLoopback(true), p.SetMulticastTTL(ttl))
	} else {
		p := ipv6.NewPacketConn(c)
		err = firstErr(p.JoinGroup(ifi, ga), p.SetMulticastInterface(ifi), p.SetMulticastLoopback(true), p.SetMulticastHopLimit(ttl))
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("room: join %s on %s: %w", group.Addr(), ifi.Name, err)
	}
	if group.Port() == 0 { // the kernel picked one: the others need it
		group = netip.AddrPortFrom(group.Addr(), uint16(c.LocalAddr().(*net.UDPAddr).Port))
	}
	bc, err := dgram.NewConn(c, dgram.ConnConfig{TTL: true})
	if err != nil {
		c.Close()
		return nil, err
	}
	return &GroupSocket{Conn: bc, Group: group, Iface: ifi, Source: groupSource(group, ifi), TTL: ttl}, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// LoopbackInterface returns the host's loopback interface: a multicast
// room on it reaches this host only.
func LoopbackInterface() (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 {
			return &ifs[i], nil
		}
	}
	return nil, fmt.Errorf("room: no loopback interface")
}
