//go:build linux

package room

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/netem"
	"github.com/udpchat/udpchat/dgram/nstest"
)

// groupSockets opens n sockets of one multicast group on the loopback
// interface of a namespace of the test's own.
func groupSockets(t *testing.T, n int) []*GroupSocket {
	t.Helper()
	ns := nstest.New(t)
	var socks []*GroupSocket
	ns.MustDo(func() error {
		lo, err := LoopbackInterface()
		if err != nil {
			return err
		}
		group := netip.MustParseAddrPort("239.255.0.1:0")
		for range n {
			s, err := ListenGroup(group, lo, 0)
			if err != nil {
				return err
			}
			group = s.Group
			socks = append(socks, s)
		}
		return nil
	})
	for _, s := range socks {
		t.Cleanup(func() { s.Close() })
	}
	return socks
}

func joinGroup(t *testing.T, s *GroupSocket, cfg GroupConfig) (*Group, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	g, err := JoinGroup(ctx, s, s.Group, cfg)
	if err == nil {
		t.Cleanup(func() { g.Close() })
	}
	return g, err
}

func nextG(t *testing.T, g *Group) Event {
	t.Helper()
	select {
	case e, ok := <-g.Events():
		if !ok {
			t.Fatalf("%s: events closed: %v", g.Nick(), g.Err())
		}
		return e
	case <-time.After(wait):
		t.Fatalf("%s: no event within %v", g.Nick(), wait)
	}
	return Event{}
}

// expectMembers reads the member list a member gets on joining: the
// nicks given, or (when the answers to its probes came after its probe
// time, as on a starved machine) an empty list and then their joins.
func expectMembers(t *testing.T, g *Group, nicks ...string) {
	t.Helper()
	e := nextG(t, g)
	if e.Kind != KindMembers {
		t.Fatalf("%s: first event %q, want the member list", g.Nick(), show(e))
	}
	have := map[string]bool{}
	for _, n := range e.Nicks {
		have[n] = true
	}
	for _, n := range nicks {
		for !have[n] {
			e := nextG(t, g)
			if e.Kind != KindJoin {
				t.Fatalf("%s: %q before %s was known", g.Nick(), show(e), n)
			}
			have[e.Nick] = true
		}
	}
	if len(have) != len(nicks) {
		t.Fatalf("%s: members %v, want %q", g.Nick(), have, nicks)
	}
}

func expectG(t *testing.T, g *Group, want string) {
	t.Helper()
	if got := show(nextG(t, g)); got != want {
		t.Fatalf("%s: got %q, want %q", g.Nick(), got, want)
	}
}

// TestGroup: two members of a multicast room on a namespace's loopback
// see each other join, talk both ways, and see each other leave; a third
// with a taken nick is refused.
func TestGroup(t *testing.T) {
	socks := groupSockets(t, 3)
	alice, err := joinGroup(t, socks[0], GroupConfig{Nick: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	expectG(t, alice, "* members: ")
	bob, err := joinGroup(t, socks[1], GroupConfig{Nick: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	expectMembers(t, bob, "alice")
	expectG(t, alice, "* bob joined")

	// A long probe: the CONFLICT ends it as soon as it comes, however
	// slow the machine.
	if _, err := joinGroup(t, socks[2], GroupConfig{Nick: "Alice", Probe: time.Minute}); !errors.Is(err, ErrNickTaken) {
		t.Fatalf("second alice: JoinGroup = %v, want ErrNickTaken", err)
	}

	for i, m := range []*Group{alice, bob, alice} {
		if err := m.Send(context.Background(), "line "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	expectG(t, bob, "<alice> line a")
	expectG(t, alice, "<bob> line b")
	expectG(t, bob, "<alice> line c")

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := bob.Leave(ctx); err != nil {
		t.Fatalf("bob: Leave = %v", err)
	}
	expectG(t, alice, "* bob left")
	if st := alice.Stats(); st.Received != 1 || st.Sent != 2 || st.Members != 0 {
		t.Errorf("alice's stats %+v: want 1 received, 2 sent, no members left", st)
	}
}

// TestGroupLossy: three members, one of them behind 10% loss, 10%
// duplication and 10% reordering each way (fixed seed): NACKs and
// repairs get every line to every other member, once and in order.
func TestGroupLossy(t *testing.T) {
	socks := groupSockets(t, 3)
	bad := netem.Config{Loss: 0.10, Dup: 0.10, Reorder: 0.10}
	wc, err := netem.Wrap(socks[2].Conn, netem.Options{Write: bad, Read: &bad, Seed: 15})
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(nick string) GroupConfig { return GroupConfig{Nick: nick, NackTries: 12, Seed: 15} }
	var members []*Group
	for i, nick := range []string{"alice", "bob", "carol"} {
		var conn dgram.BatchConn = socks[i]
		if i == 2 {
			conn = wc // it closes socks[2]
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		g, err := JoinGroup(ctx, conn, socks[i].Group, cfg(nick))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", nick, err)
		}
		t.Cleanup(func() { g.Close() })
		members = append(members, g)
	}
	const lines = 40
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				if err := m.Send(context.Background(), fmt.Sprintf("%s %d", m.Nick(), i)); err != nil {
					t.Errorf("%s: %v", m.Nick(), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, m := range members {
		got := map[string][]string{}
		for n := 0; n < 2*lines; {
			e := nextG(t, m)
			switch e.Kind {
			case KindMessage:
				got[e.Nick] = append(got[e.Nick], e.Text)
				n++
			case KindJoin, KindMembers:
			default:
				t.Fatalf("%s: unexpected %s", m.Nick(), show(e))
			}
		}
		for _, o := range members {
			if o == m {
				continue
			}
			var want []string
			for i := range lines {
				want = append(want, fmt.Sprintf("%s %d", o.Nick(), i))
			}
			if !slices.Equal(got[o.Nick()], want) {
				t.Errorf("%s got from %s: %q, want %q", m.Nick(), o.Nick(), got[o.Nick()], want)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := members[2].Leave(ctx); err != nil {
		t.Errorf("carol: Leave = %v", err)
	}
	// Repairs happened (who asked and who repeated, the seed and the
	// timing of the other datagrams decide), and nothing was given up.
	var total GroupStats
	for _, m := range members {
		st := m.Stats()
		t.Logf("%s: %+v", m.Nick(), st)
		total.Nacks += st.Nacks
		total.Repairs += st.Repairs
		total.Recovered += st.Recovered
		total.Duplicates += st.Duplicates
		if st.Missed != 0 {
			t.Errorf("%s missed %d messages", m.Nick(), st.Missed)
		}
	}
	if total.Nacks == 0 || total.Repairs == 0 || total.Recovered == 0 || total.Duplicates == 0 {
		t.Errorf("in all: %+v; want NACKs, repairs, recoveries and duplicates", total)
	}
	wc.Close()
}
