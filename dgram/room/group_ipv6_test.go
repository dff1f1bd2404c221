//go:build linux

package room

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/udpchat/udpchat/dgram/nstest"
)

// TestGroupIPv6 runs an IPv6 multicast room (ff12::/16, link scope)
// between two namespaces joined by a veth pair, each member pinned to its
// end of the link. (Linux does not route IPv6 multicast on loopback.)
func TestGroupIPv6(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	aDev, bDev := nstest.Link(t, a, b, nstest.LinkOptions{
		A: []netip.Prefix{netip.MustParsePrefix("2001:db8:7::1/64")},
		B: []netip.Prefix{netip.MustParsePrefix("2001:db8:7::2/64")},
	})
	group := netip.MustParseAddrPort("[ff12::7]:0")
	open := func(ns *nstest.NS, dev string) *GroupSocket {
		var s *GroupSocket
		ns.MustDo(func() error {
			ifi, err := net.InterfaceByName(dev)
			if err != nil {
				return err
			}
			s, err = ListenGroup(group, ifi, 0)
			return err
		})
		t.Cleanup(func() { s.Close() })
		group = s.Group
		return s
	}
	sa := open(a, aDev)
	sb := open(b, bDev)
	alice, err := joinGroup(t, sa, GroupConfig{Nick: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	expectG(t, alice, "* members: ")
	bob, err := joinGroup(t, sb, GroupConfig{Nick: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	expectMembers(t, bob, "alice")
	expectG(t, alice, "* bob joined")
	if err := bob.Send(t.Context(), "over IPv6"); err != nil {
		t.Fatal(err)
	}
	expectG(t, alice, "<bob> over IPv6")
}

// TestGroupCannotSend: where the kernel cannot send to the group (IPv6
// multicast on a loopback without a route for it), joining fails and
// says why, instead of joining a room that nobody hears.
func TestGroupCannotSend(t *testing.T) {
	ns := nstest.New(t)
	var s *GroupSocket
	ns.MustDo(func() error {
		lo, err := LoopbackInterface()
		if err != nil {
			return err
		}
		s, err = ListenGroup(netip.MustParseAddrPort("[ff12::7]:0"), lo, 0)
		return err
	})
	t.Cleanup(func() { s.Close() })
	_, err := joinGroup(t, s, GroupConfig{Nick: "alice"})
	if err == nil || !strings.Contains(err.Error(), "cannot send to the group") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("JoinGroup = %v, want an error: cannot send to the group ... unreachable", err)
	}
}
