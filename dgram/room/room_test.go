package room

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/netem"
	"github.com/udpchat/udpchat/dgram/seal"
)

// wait bounds every wait of a failing test; a passing test never reaches
// it.
const wait = 30 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer serves a room on 127.0.0.1:0.
func startServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	uc, err := dgram.NewConn(c, dgram.ConnConfig{Dst: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(uc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		uc.Close()
	})
	return s
}

// dialMember joins the room at addr from a connected socket.
func dialMember(t *testing.T, addr netip.AddrPort, cfg MemberConfig) (*Member, error) {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	uc, err := dgram.NewConn(c, dgram.ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m, err := Join(ctx, uc, addr, cfg)
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

func mustJoin(t *testing.T, addr netip.AddrPort, nick string) *Member {
	t.Helper()
	m, err := dialMember(t, addr, MemberConfig{Nick: nick})
	if err != nil {
		t.Fatalf("Join(%s) = %v", nick, err)
	}
	return m
}

// next returns m's next event, failing the test if none comes.
func next(t *testing.T, m *Member) Event {
	t.Helper()
	select {
	case e, ok := <-m.Events():
		if !ok {
			t.Fatalf("%s: events closed: %v", m.Nick(), m.Err())
		}
		return e
	case <-time.After(wait):
		t.Fatalf("%s: no event within %v", m.Nick(), wait)
	}
	return Event{}
}

// expect reads m's events until one matches want (compared as shown by
// show), failing on a message that comes first.
func expect(t *testing.T, m *Member, want string) {
	t.Helper()
	var seen []string
	for {
		e := next(t, m)
		s := show(e)
		if s == want {
			return
		}
		seen = append(seen, s)
		if e.Kind == KindMessage || len(seen) > 10 {
			t.Fatalf("%s: got %q, want %q", m.Nick(), seen, want)
		}
	}
}

func show(e Event) string {
	switch e.Kind {
	case KindMessage:
		return fmt.Sprintf("<%s> %s", e.Nick, e.Text)
	case KindJoin:
		return "* " + e.Nick + " joined"
	case KindLeave:
		return "* " + e.Nick + " " + map[uint8]string{ReasonLeft: "left", ReasonTimeout: "timed out"}[e.Reason]
	case KindMembers:
		return "* members: " + strings.Join(e.Nicks, ",")
	case KindMissed:
		return fmt.Sprintf("* missed %d from %s", e.Count, e.Nick)
	}
	return "?"
}

// TestRoomLossy: three members, one of them behind a link with 10% loss,
// 10% duplication and 10% reordering each way (fixed seed). Every member
// gets every other member's lines exactly once and in each sender's
// order, then sees the others leave.
func TestRoomLossy(t *testing.T) {
	s := startServer(t, ServerConfig{})
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bad := netem.Config{Loss: 0.10, Dup: 0.10, Reorder: 0.10}
	px, err := netem.NewProxy(ln, netem.ProxyConfig{Target: s.Addr(), Up: bad, Down: bad, Seed: 15})
	if err != nil {
		t.Fatal(err)
	}
	go px.Serve()
	t.Cleanup(func() {
		px.Close()
		ln.Close()
	})

	alice := mustJoin(t, s.Addr(), "alice")
	expect(t, alice, "* members: ")
	bob := mustJoin(t, s.Addr(), "bob")
	expect(t, bob, "* members: alice")
	expect(t, alice, "* bob joined")
	carol := mustJoin(t, addrPortOf(ln.LocalAddr()), "carol")
	expect(t, carol, "* members: alice,bob")
	expect(t, alice, "* carol joined")
	expect(t, bob, "* carol joined")

	const lines = 40
	members := []*Member{alice, bob, carol}
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				if err := m.Send(context.Background(), fmt.Sprintf("%s %d", m.Nick(), i)); err != nil {
					t.Errorf("%s: Send: %v", m.Nick(), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, m := range members {
		got := map[string][]string{}
		for n := 0; n < 2*lines; n++ {
			e := next(t, m)
			if e.Kind != KindMessage {
				t.Fatalf("%s: unexpected %s", m.Nick(), show(e))
			}
			got[e.Nick] = append(got[e.Nick], e.Text)
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
	if err := carol.Leave(ctx); err != nil {
		t.Fatalf("carol: Leave = %v", err)
	}
	expect(t, alice, "* carol left")
	expect(t, bob, "* carol left")
	if err := bob.Leave(ctx); err != nil {
		t.Fatalf("bob: Leave = %v", err)
	}
	expect(t, alice, "* bob left")

	st := px.Stats()
	if st.Up.Dropped == 0 || st.Down.Dropped == 0 || st.Up.Duplicated == 0 || st.Down.Reordered == 0 {
		t.Errorf("the link did not impair both ways: up %+v down %+v", st.Up, st.Down)
	}
	// Repairs happened, on one side or the other (which side, the seed
	// and the timing of the other datagrams decide).
	ss, cs := s.Stats(), carol.Stats()
	if ss.Retransmits+cs.Retransmits == 0 || ss.Duplicates+cs.Duplicates == 0 {
		t.Errorf("server %+v, carol %+v: want retransmissions and duplicates", ss, cs)
	}
	t.Logf("server: %+v", ss)
	t.Logf("carol: %+v", cs)
}

// TestNickTaken: a second alice is refused, with the nick named.
func TestNickTaken(t *testing.T) {
	s := startServer(t, ServerConfig{})
	mustJoin(t, s.Addr(), "alice")
	_, err := dialMember(t, s.Addr(), MemberConfig{Nick: "Alice"})
	if !errors.Is(err, ErrNickTaken) || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("second alice: Join = %v, want ErrNickTaken naming \"alice\"", err)
	}
	if st := s.Stats(); st.Refused != 1 || st.Members != 1 {
		t.Errorf("stats %+v: want 1 refused, 1 member", st)
	}
}

// manualClock is a Clock that moves only when the test says.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, manualWaiter{t, ch})
	return ch
}

// Advance moves the clock on and fires the timers that fall due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			keep = append(keep, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = keep
}

// TestTimeout: a member that falls silent is announced as timed out once
// the server's clock has passed the timeout, and not before; the others,
// who spoke, stay.
func TestTimeout(t *testing.T) {
	clk := newManualClock()
	s := startServer(t, ServerConfig{Clock: clk})
	alice := mustJoin(t, s.Addr(), "alice")
	expect(t, alice, "* members: ")
	bob := mustJoin(t, s.Addr(), "bob")
	expect(t, alice, "* bob joined")
	carol := mustJoin(t, s.Addr(), "carol")
	expect(t, alice, "* carol joined")
	expect(t, bob, "* carol joined")
	carol.Close() // silent from now on: no goodbye, no keepalive
	say := func(from, to *Member, text string) {
		t.Helper()
		if err := from.Send(context.Background(), text); err != nil {
			t.Fatal(err)
		}
		expect(t, to, "<"+from.Nick()+"> "+text)
	}
	// Whatever carol sent before Close is in the server's socket before
	// this line of alice's: once bob has it, the server heard carol last
	// at the start.
	say(alice, bob, "carol has gone quiet")

	// 6s on, alice and bob speak (the server hears them at the new time);
	// carol, silent for 6s, is still a member.
	clk.Advance(6 * time.Second)
	say(alice, bob, "still here")
	say(bob, alice, "me too")
	if got := s.Members(); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("after 6s: members %q", got)
	}
	// 12s on: carol was last heard 12s ago, alice and bob 6s ago.
	clk.Advance(6 * time.Second)
	expect(t, alice, "* carol timed out")
	expect(t, bob, "* carol timed out")
	if got := s.Members(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("after 12s: members %q", got)
	}
	if st := s.Stats(); st.TimedOut != 1 || st.Left != 0 {
		t.Errorf("stats %+v: want 1 timed out", st)
	}
}

// TestWildcardReplySource: a server bound to 0.0.0.0 answers a member
// that wrote to 127.0.0.2 from 127.0.0.2; the member's connected socket
// would drop anything else.
func TestWildcardReplySource(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	uc, err := dgram.NewConn(c, dgram.ConnConfig{Dst: true})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	s, err := NewServer(uc, ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	port := s.Addr().Port()
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		addr := netip.AddrPortFrom(netip.MustParseAddr(ip), port)
		m := mustJoin(t, addr, "m"+strings.ReplaceAll(ip, ".", ""))
		if err := m.Send(context.Background(), "hi"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		if err := m.Leave(ctx); err != nil {
			t.Errorf("member of %s: Leave = %v", addr, err)
		}
		cancel()
	}
	if st := s.Stats(); st.Joined != 2 || st.Left != 2 || st.Messages != 2 {
		t.Errorf("stats %+v: want 2 joined, 2 left, 2 messages", st)
	}
}

func newKey(t *testing.T) *seal.Key {
	t.Helper()
	k, err := seal.NewKey(seal.GenerateSecret())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSealed: with a key, members with the key talk; one without it, or
// with another key, gets no answer at all, and the server counts what it
// rejected.
func TestSealed(t *testing.T) {
	key := newKey(t)
	s := startServer(t, ServerConfig{Key: key})
	alice, err := dialMember(t, s.Addr(), MemberConfig{Nick: "alice", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := dialMember(t, s.Addr(), MemberConfig{Nick: "bob", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, alice, "* bob joined")
	if err := bob.Send(context.Background(), "sealed hello"); err != nil {
		t.Fatal(err)
	}
	expect(t, alice, "<bob> sealed hello")
	for _, tc := range []struct {
		cfg  MemberConfig
		hint string // what the error suggests: a key, or the same key
	}{
		{MemberConfig{Nick: "mallory", JoinTimeout: 300 * time.Millisecond}, "a sealed room answers only members with its key"},
		{MemberConfig{Nick: "eve", Key: newKey(t), JoinTimeout: 300 * time.Millisecond}, "sealed with the same key?"},
	} {
		_, err := dialMember(t, s.Addr(), tc.cfg)
		if !errors.Is(err, ErrNoAnswer) {
			t.Errorf("%s: Join = %v, want ErrNoAnswer", tc.cfg.Nick, err)
		} else if !strings.Contains(err.Error(), tc.hint) {
			t.Errorf("%s: Join = %v: it does not say %q", tc.cfg.Nick, err, tc.hint)
		}
	}
	st := s.Stats()
	if st.Rejected[seal.Unsealed] == 0 || st.Rejected[seal.BadTag] == 0 || st.Members != 2 || st.Hellos < 2 {
		t.Errorf("stats %+v: want unsealed and bad-tag rejections, 2 members, their hellos", st)
	}
}

// TestServerDone: a server whose socket fails says so (Done, Err)
// instead of sitting there.
func TestServerDone(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	uc, err := dgram.NewConn(c, dgram.ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(uc, ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	uc.Close() // under the server's feet
	select {
	case <-s.Done():
	case <-time.After(wait):
		t.Fatal("Done not closed after the socket failed")
	}
	if err := s.Err(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Err = %v, want net.ErrClosed", err)
	}
	s.Close()
}
