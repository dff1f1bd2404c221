package room

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seal"
)

// Defaults of GroupConfig.
const (
	DefaultProbe      = 500 * time.Millisecond
	DefaultHistory    = 256
	DefaultRepairRate = 500
	DefaultNackDelay  = 20 * time.Millisecond
	DefaultNackWait   = 100 * time.Millisecond
	DefaultNackTries  = 6
	probes            = 3 // probe ANNOUNCEs a joining member sends
)

// GroupConfig configures a member of a multicast room. Nick is required;
// the zero value of every other field works.
type GroupConfig struct {
	// Nick is the name the member speaks under (see CheckNick).
	Nick string
	// Key, when set, seals everything: only members with the key can
	// join, read or speak.
	Key *seal.Key
	// Clock is the member's time (default: the system clock).
	Clock Clock
	// Keepalive is how often the member announces itself (default 2s);
	// Timeout, how long a silent member stays before it is announced as
	// timed out (default 10s).
	Keepalive, Timeout time.Duration
	// Probe is how long a joining member listens for another member with
	// its nick before it joins (default 500ms).
	Probe time.Duration
	// History bounds the member's own messages kept to repair others'
	// losses (default 256); Window, the early messages held per sender
	// while a gap is repaired (default 256); MaxMembers, the members
	// known at once (default 256).
	History, Window, MaxMembers int
	// MaxText bounds a message's text, in bytes (default 1000).
	MaxText int
	// Rate bounds the messages a second this member sends (default 50);
	// RepairRate the repairs a second it sends (default 500).
	Rate, RepairRate int
	// NackDelay is the most a member waits, at random, before it asks
	// for a missing message (default 20ms), so that one request serves
	// the members that miss the same; NackWait is how long it waits for
	// the repair before asking again (default 100ms, doubling); after
	// NackTries requests (default 6) it gives up and reports the gap.
	NackDelay, NackWait time.Duration
	NackTries           int
	// Linger bounds how long Leave waits for the others to confirm that
	// they have every message (default Timeout).
	Linger time.Duration
	// MaxPending and Events are as for MemberConfig.
	MaxPending, Events int
	// Seed seeds the random NACK delays (default: from the session ID).
	Seed uint64
}

func (c GroupConfig) withDefaults() GroupConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&c.Keepalive, DefaultKeepalive)
	defd(&c.Timeout, DefaultTimeout)
	defd(&c.Probe, DefaultProbe)
	defd(&c.NackDelay, DefaultNackDelay)
	defd(&c.NackWait, DefaultNackWait)
	defd(&c.Linger, c.Timeout)
	def(&c.History, DefaultHistory)
	def(&c.Window, 256)
	def(&c.MaxMembers, DefaultMaxMembers)
	def(&c.MaxText, DefaultMaxText)
	def(&c.Rate, DefaultRate)
	def(&c.RepairRate, DefaultRepairRate)
	def(&c.NackTries, DefaultNackTries)
	def(&c.MaxPending, DefaultMaxPending)
	def(&c.Events, DefaultEvents)
	if c.Clock == nil {
		c.Clock = SystemClock
	}
	return c
}

// GroupStats counts what a member of a multicast room did.
type GroupStats struct {
	Members    int    // other members known now
	Sent       uint64 // own messages sent (once each)
	Received   uint64 // messages delivered
	Duplicates uint64 // messages that arrived again
	Nacks      uint64 // NACKs sent
	Suppressed uint64 // NACKs not sent because another member asked first
	Repairs    uint64 // own messages sent again, on request
	Recovered  uint64 // messages delivered after they had been missing
	Missed     uint64 // messages given up on (reported as missed)
	Malformed  uint64 // datagrams that were not valid room packets
	Ignored    uint64 // packets from members over MaxMembers
	SendErrors uint64 // datagrams the socket refused to send
	Rejected   seal.Rejections
}

// gpeer is what a group member knows of another.
type gpeer struct {
	session   uint64
	nick      string
	heard     time.Time
	next      uint64            // the next number to deliver
	last      uint64            // the highest number known to exist
	held      map[uint64][]byte // early messages: number -> text
	wasGap    map[uint64]bool   // numbers once found missing (to count recoveries)
	nackAt    time.Time         // zero: nothing to ask for
	nackTries int
	bye       bool
	byeLast   uint64
	shown     bool // the application knows of it (member list or a join)
	probing   bool // heard only probing so far
}

type histEntry struct {
	num      uint64
	text     []byte
	repaired time.Time
}

// group states.
const (
	gProbe = iota
	gJoined
	gLeaving
	gDone
)

// group is a multicast room member's state machine.
type group struct {
	cfg     GroupConfig
	session uint64
	nick    string
	dst     netip.AddrPort
	out     func(b []byte, to netip.AddrPort, via route)
	rng     *rand.Rand

	state    int
	started  time.Time
	probes   int
	probeAt  time.Time
	joinedCh chan struct{}

	peers map[uint64]*gpeer
	order []*gpeer
	gone  map[uint64]time.Time // sessions that left or timed out, until they are long gone

	nextNum  uint64 // own messages: the next number, from 1
	hist     []histEntry
	queue    [][]byte
	bucket   bucket
	repairs  bucket
	lastAnn  time.Time
	annDue   time.Time // answer a probe by then
	byeAt    time.Time
	leaveAt  time.Time
	waitFor  map[uint64]bool // members whose BYE-ACK a leaving member waits for
	deliver  []Event
	err      error
	ended    bool
	stats    GroupStats
	pkt      Packet
	buf      []byte
	scratch  []uint64
	rangeBuf [MaxNackRanges]Range
}

func (g *group) send(p *Packet) {
	p.Session = g.session
	g.buf = p.Append(g.buf[:0])
	g.out(g.buf, g.dst, route{})
}

func (g *group) end(err error) {
	if g.ended {
		return
	}
	g.ended, g.err, g.state = true, err, gDone
}

func (g *group) take() ([]Event, bool) {
	evs := g.deliver
	g.deliver = nil
	return evs, g.ended
}

func (g *group) finish(err error) { g.end(err) }

func (g *group) failure() error { return g.err }

// histLow is the oldest own message number still in history.
func (g *group) histLow() uint64 {
	if g.nextNum <= uint64(len(g.hist)) {
		return 1
	}
	return g.nextNum - uint64(len(g.hist))
}

func (g *group) announce(flags uint8, now time.Time) {
	g.send(&Packet{Type: TypeAnnounce, Seq: g.nextNum - 1, Flags: flags, Low: g.histLow(), Nick: []byte(g.nick)})
	g.lastAnn = now
}

func (g *group) handle(b []byte, from netip.AddrPort, _ route, now time.Time) {
	p := &g.pkt
	if err := Decode(b, p); err != nil {
		g.stats.Malformed++
		return
	}
	if p.Session == g.session || g.state == gDone {
		return // our own, looped back
	}
	if _, ok := g.gone[p.Session]; ok {
		if p.Type == TypeBye {
			g.send(&Packet{Type: TypeByeAck, Seq: p.Seq, Target: p.Session})
		}
		return
	}
	switch p.Type {
	case TypeAnnounce, TypeData, TypeBye, TypeConflict:
		if CheckNick(string(p.Nick)) != nil {
			g.stats.Malformed++
			return
		}
	}
	switch p.Type {
	case TypeAnnounce:
		if p.Seq == math.MaxUint64 {
			g.stats.Malformed++ // numbers never get there
			return
		}
		g.onAnnounce(p, now)
	case TypeData:
		if p.Seq == 0 || CheckText(p.Text, MaxTextLimit) != nil {
			g.stats.Malformed++
			return
		}
		g.onData(p, now)
	case TypeNack:
		g.onNack(p, now)
	case TypeBye:
		if pr := g.peers[p.Session]; pr != nil {
			pr.heard = now
			pr.bye, pr.byeLast = true, p.Seq
			pr.last = max(pr.last, p.Seq)
			g.gaps(pr, now)
			g.byeDone(pr)
		} else {
			// Someone we never knew: we have nothing of theirs to miss.
			g.send(&Packet{Type: TypeByeAck, Seq: p.Seq, Target: p.Session})
		}
	case TypeByeAck:
		if p.Target == g.session && g.state == gLeaving && p.Seq+1 >= g.nextNum {
			delete(g.waitFor, p.Session)
		}
	case TypeConflict:
		if p.Target == g.session && g.state == gProbe {
			g.end(&RefusedError{Code: RefuseNickTaken, Reason: fmt.Sprintf("the nick %q is taken in the group %s", string(p.Nick), g.dst)})
		}
	case TypeUnavailable:
		if pr := g.peers[p.Session]; pr != nil && pr.next < p.Seq {
			g.giveUp(pr, p.Seq)
			g.gaps(pr, now)
		}
	default:
		g.stats.Malformed++ // a server's packet type
	}
}

// conflict handles a packet from another session with our nick; it
// returns true when the packet is to be dropped.
func (g *group) conflict(p *Packet) bool {
	if FoldNick(string(p.Nick)) != FoldNick(g.nick) {
		return false
	}
	if g.state == gProbe {
		// Two joining at once: the smaller session keeps the nick.
		if p.Flags&AnnounceProbe == 0 || p.Type != TypeAnnounce || p.Session < g.session {
			g.end(&RefusedError{Code: RefuseNickTaken, Reason: fmt.Sprintf("the nick %q is taken in the group %s", string(p.Nick), g.dst)})
		}
		return true
	}
	g.send(&Packet{Type: TypeConflict, Target: p.Session, Nick: []byte(g.nick)})
	return true
}

// peer returns the member of p's session, creating it (table permitting)
// with its numbering starting after first.
func (g *group) peer(p *Packet, first uint64, now time.Time) *gpeer {
	if pr := g.peers[p.Session]; pr != nil {
		return pr
	}
	if len(g.peers) >= g.cfg.MaxMembers {
		g.stats.Ignored++
		return nil
	}
	pr := &gpeer{session: p.Session, nick: string(p.Nick), heard: now, next: first, last: first - 1}
	if g.peers == nil {
		g.peers = make(map[uint64]*gpeer)
	}
	g.peers[p.Session] = pr
	g.order = append(g.order, pr)
	return pr
}

// show tells the application of a member it has not heard of yet.
func (g *group) show(pr *gpeer) {
	if pr.shown || g.state == gProbe {
		return
	}
	pr.shown = true
	g.deliver = append(g.deliver, Event{Kind: KindJoin, Nick: pr.nick})
}

func (g *group) onAnnounce(p *Packet, now time.Time) {
	if g.conflict(p) {
		return
	}
	probe := p.Flags&AnnounceProbe != 0
	pr := g.peer(p, p.Seq+1, now)
	if pr == nil {
		return
	}
	pr.heard = now
	if probe {
		if len(pr.held) == 0 && pr.next == pr.last+1 {
			pr.probing = true
		}
		if g.state != gProbe && g.annDue.IsZero() {
			// Tell the newcomer we are here, after a random pause so that
			// a big group does not answer all at once.
			g.annDue = now.Add(time.Duration(g.rng.Int64N(int64(g.cfg.NackDelay) + 1)))
		}
		return
	}
	pr.probing = false
	g.show(pr)
	pr.last = max(pr.last, p.Seq)
	if p.Low > pr.next {
		g.giveUp(pr, p.Low)
	}
	g.gaps(pr, now)
}

func (g *group) onData(p *Packet, now time.Time) {
	if g.conflict(p) {
		return
	}
	pr := g.peer(p, p.Seq, now)
	if pr == nil {
		return
	}
	pr.heard = now
	pr.probing = false
	g.show(pr)
	n := p.Seq
	if _, ok := pr.held[n]; n < pr.next || ok {
		g.stats.Duplicates++
		return
	}
	if w := uint64(g.cfg.Window); n >= pr.next+w {
		g.giveUp(pr, n-w+1) // too far ahead to hold what lies between
	}
	if pr.held == nil {
		pr.held = make(map[uint64][]byte)
	}
	pr.held[n] = append([]byte(nil), p.Text...)
	pr.last = max(pr.last, n)
	g.drain(pr)
	g.gaps(pr, now)
	g.byeDone(pr)
}

// drain delivers pr's messages that are next in order.
func (g *group) drain(pr *gpeer) {
	for {
		text, ok := pr.held[pr.next]
		if !ok {
			return
		}
		g.deliverMsg(pr, pr.next, text)
		delete(pr.held, pr.next)
		pr.next++
	}
}

func (g *group) deliverMsg(pr *gpeer, n uint64, text []byte) {
	if pr.wasGap[n] {
		g.stats.Recovered++
		delete(pr.wasGap, n)
	}
	g.stats.Received++
	g.deliver = append(g.deliver, Event{Kind: KindMessage, Nick: pr.nick, Text: string(text), ID: n})
}

// giveUp stops waiting for pr's numbers below upto: it reports the ones
// that never came as missed, delivers the ones held among them, in
// order, and moves on.
func (g *group) giveUp(pr *gpeer, upto uint64) {
	if upto <= pr.next {
		return
	}
	g.scratch = g.scratch[:0]
	for n := range pr.held {
		if n < upto {
			g.scratch = append(g.scratch, n)
		}
	}
	slices.Sort(g.scratch)
	missed := upto - pr.next - uint64(len(g.scratch))
	if missed > 0 {
		g.stats.Missed += missed
		g.deliver = append(g.deliver, Event{Kind: KindMissed, Nick: pr.nick, Count: missed})
	}
	for _, n := range g.scratch {
		g.deliverMsg(pr, n, pr.held[n])
		delete(pr.held, n)
	}
	for n := range pr.wasGap {
		if n < upto {
			delete(pr.wasGap, n)
		}
	}
	pr.next = upto
	pr.last = max(pr.last, upto-1)
	pr.nackTries = 0
	g.drain(pr)
}

// gaps schedules a NACK when pr has a gap, or cancels it.
func (g *group) gaps(pr *gpeer, now time.Time) {
	if pr.next > pr.last {
		pr.nackAt, pr.nackTries = time.Time{}, 0
		return
	}
	if pr.nackAt.IsZero() {
		pr.nackAt = now.Add(time.Duration(g.rng.Int64N(int64(g.cfg.NackDelay) + 1)))
	}
}

// missing fills g.rangeBuf with the ranges pr misses, within the window,
// and returns how many.
func (g *group) missing(pr *gpeer) int {
	n := 0
	end := min(pr.last, pr.next+uint64(g.cfg.Window)-1)
	for i := pr.next; i <= end && n < MaxNackRanges; i++ {
		if _, ok := pr.held[i]; ok {
			continue
		}
		if n > 0 && g.rangeBuf[n-1].End == i {
			g.rangeBuf[n-1].End++
		} else {
			g.rangeBuf[n] = Range{i, i + 1}
			n++
		}
		if pr.wasGap == nil {
			pr.wasGap = make(map[uint64]bool)
		}
		pr.wasGap[i] = true
	}
	return n
}

func (g *group) onNack(p *Packet, now time.Time) {
	if p.Target != g.session {
		// Another member asked: if we miss the same, its repair will
		// serve us too, so wait before asking ourselves.
		if pr := g.peers[p.Target]; pr != nil && !pr.nackAt.IsZero() {
			for _, r := range p.Ranges[:p.NRanges] {
				if r.Start <= pr.next && pr.next < r.End {
					pr.nackAt = now.Add(g.nackWait(pr.nackTries + 1))
					g.stats.Suppressed++
					break
				}
			}
		}
		return
	}
	low := g.histLow()
	gone := false
	for _, r := range p.Ranges[:p.NRanges] {
		if r.Start < low {
			gone = true
		}
		for n := max(r.Start, low); n < r.End && n < g.nextNum; n++ {
			e := &g.hist[n%uint64(len(g.hist))]
			if e.num != n || now.Sub(e.repaired) < g.cfg.NackWait/2 {
				continue // repaired a moment ago: that copy is on its way
			}
			if !g.repairs.take(now, float64(g.cfg.RepairRate), float64(g.cfg.RepairRate)) {
				return
			}
			e.repaired = now
			g.stats.Repairs++
			g.send(&Packet{Type: TypeData, Seq: n, Nick: []byte(g.nick), Text: e.text})
		}
	}
	if gone {
		g.send(&Packet{Type: TypeUnavailable, Seq: low})
	}
}

func (g *group) nackWait(tries int) time.Duration {
	d := g.cfg.NackWait
	for i := 1; i < tries && d < time.Second; i++ {
		d *= 2
	}
	return min(d, time.Second)
}

// byeDone completes a leaving member's goodbye once we have all its
// messages (or gave up on them).
func (g *group) byeDone(pr *gpeer) {
	if !pr.bye || pr.next <= pr.byeLast {
		return
	}
	g.send(&Packet{Type: TypeByeAck, Seq: pr.byeLast, Target: pr.session})
	g.remove(pr, ReasonLeft, pr.heard)
}

func (g *group) remove(pr *gpeer, reason uint8, now time.Time) {
	delete(g.peers, pr.session)
	g.order = slices.DeleteFunc(g.order, func(o *gpeer) bool { return o == pr })
	delete(g.waitFor, pr.session)
	if g.gone == nil {
		g.gone = make(map[uint64]time.Time)
	}
	if len(g.gone) < 2*g.cfg.MaxMembers {
		g.gone[pr.session] = now
	}
	if pr.shown {
		g.deliver = append(g.deliver, Event{Kind: KindLeave, Nick: pr.nick, Reason: reason})
	}
}

// pumpOwn sends queued messages as the rate allows.
func (g *group) pumpOwn(now time.Time) {
	for len(g.queue) > 0 && g.bucket.take(now, float64(g.cfg.Rate), float64(g.cfg.Rate)) {
		text := g.queue[0]
		g.queue[0] = nil
		g.queue = g.queue[1:]
		n := g.nextNum
		g.nextNum++
		g.hist[n%uint64(len(g.hist))] = histEntry{num: n, text: text}
		g.stats.Sent++
		g.send(&Packet{Type: TypeData, Seq: n, Nick: []byte(g.nick), Text: text})
	}
}

func (g *group) tick(now time.Time) time.Time {
	var next time.Time
	soon := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	switch g.state {
	case gDone:
		return time.Time{}
	case gProbe:
		if now.Before(g.probeAt) {
			return g.probeAt
		}
		if g.probes < probes {
			g.announce(AnnounceProbe, now)
			g.probes++
			g.probeAt = now.Add(g.cfg.Probe / probes)
			return g.probeAt
		}
		g.state = gJoined
		var nicks []string
		for _, pr := range g.order {
			if !pr.probing {
				pr.shown = true
				nicks = append(nicks, pr.nick)
			}
		}
		g.deliver = append(g.deliver, Event{Kind: KindMembers, Nicks: nicks})
		g.annDue = now // the others show a member as joined once it announces without probing
		close(g.joinedCh)
	}
	for _, pr := range slices.Clone(g.order) {
		if now.Sub(pr.heard) > g.cfg.Timeout {
			g.remove(pr, ReasonTimeout, now)
			continue
		}
		soon(pr.heard.Add(g.cfg.Timeout + time.Millisecond))
		if pr.nackAt.IsZero() {
			continue
		}
		if now.Before(pr.nackAt) {
			soon(pr.nackAt)
			continue
		}
		if pr.nackTries >= g.cfg.NackTries {
			// Give up on the first gap, and look at the rest afresh.
			upto := pr.last + 1
			for n := range pr.held {
				upto = min(upto, n)
			}
			g.giveUp(pr, upto)
			pr.nackAt = time.Time{}
			g.gaps(pr, now)
			g.byeDone(pr)
			soon(pr.nackAt)
			continue
		}
		if k := g.missing(pr); k > 0 {
			p := Packet{Type: TypeNack, Target: pr.session, NRanges: k}
			copy(p.Ranges[:], g.rangeBuf[:k])
			g.send(&p)
			g.stats.Nacks++
		}
		pr.nackTries++
		pr.nackAt = now.Add(g.nackWait(pr.nackTries))
		soon(pr.nackAt)
	}
	for s, t := range g.gone {
		if now.Sub(t) > 3*g.cfg.Timeout {
			delete(g.gone, s)
		}
	}
	g.pumpOwn(now)
	if len(g.queue) > 0 {
		soon(now.Add(time.Second / time.Duration(g.cfg.Rate)))
	}
	if !g.annDue.IsZero() && !now.Before(g.annDue) || now.Sub(g.lastAnn) >= g.cfg.Keepalive {
		g.announce(0, now)
		g.annDue = time.Time{}
	}
	soon(g.annDue)
	soon(g.lastAnn.Add(g.cfg.Keepalive))
	if g.state == gLeaving {
		soon(g.leave(now))
	}
	return next
}

// leave runs a leaving member: once its queue is sent, BYE until every
// member confirmed or Linger passed.
func (g *group) leave(now time.Time) time.Time {
	if len(g.queue) > 0 {
		return time.Time{}
	}
	if len(g.waitFor) == 0 && !g.byeAt.IsZero() {
		g.end(nil)
		return time.Time{}
	}
	if now.Sub(g.leaveAt) >= g.cfg.Linger {
		var nicks []string
		for _, pr := range g.order {
			if g.waitFor[pr.session] {
				nicks = append(nicks, pr.nick)
			}
		}
		g.end(fmt.Errorf("room: left the group, but %d of its members did not confirm having every message within %v: %s",
			len(nicks), g.cfg.Linger, strings.Join(nicks, ", ")))
		return time.Time{}
	}
	if g.byeAt.IsZero() || now.Sub(g.byeAt) >= 2*g.cfg.NackWait {
		g.send(&Packet{Type: TypeBye, Seq: g.nextNum - 1, Code: ReasonLeft, Nick: []byte(g.nick)})
		g.byeAt = now
		if len(g.waitFor) == 0 {
			g.end(nil)
			return time.Time{}
		}
	}
	return g.byeAt.Add(2 * g.cfg.NackWait)
}

// Group is a member of a multicast room. Its methods are safe for
// concurrent use.
type Group struct {
	*endpoint
	g *group
}

// JoinGroup joins the multicast room at addr through conn (a socket
// from ListenGroup, or a wrapper of one), which the caller closes after
// Close. It listens for
// Probe for a member that has the same nick, and returns once it has
// joined, or a *RefusedError when the nick is taken.
func JoinGroup(ctx context.Context, conn dgram.BatchConn, addr netip.AddrPort, cfg GroupConfig) (*Group, error) {
	if err := CheckNick(cfg.Nick); err != nil {
		return nil, err
	}
	if cfg.MaxText > MaxTextLimit {
		return nil, fmt.Errorf("room: MaxText %d is over the limit of %d bytes", cfg.MaxText, MaxTextLimit)
	}
	cfg = cfg.withDefaults()
	if cfg.Keepalive >= cfg.Timeout {
		return nil, fmt.Errorf("room: Keepalive %v must be shorter than Timeout %v", cfg.Keepalive, cfg.Timeout)
	}
	d, err := newDriver(conn, cfg.Clock, cfg.Key)
	if err != nil {
		return nil, err
	}
	session := newSession()
	seed := cfg.Seed
	if seed == 0 {
		seed = session
	}
	now := cfg.Clock.Now()
	g := &group{cfg: cfg, session: session, nick: cfg.Nick, dst: unmapAP(addr), out: d.send,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), started: now, probeAt: now,
		joinedCh: make(chan struct{}), nextNum: 1, hist: make([]histEntry, cfg.History),
		bucket: bucket{tokens: float64(cfg.Rate), last: now}, repairs: bucket{tokens: float64(cfg.RepairRate), last: now}}
	gr := &Group{endpoint: newEndpoint(d, g, cfg.Events), g: g}
	d.m = g
	d.onErr = func(err error) {
		if !isRefused(err) {
			g.end(fmt.Errorf("room: reading the socket: %w", err))
		}
	}
	d.onSend = func(err error) {
		g.stats.SendErrors++
		if g.state == gProbe {
			// Nobody would ever hear us: say so now rather than join a
			// room of one.
			g.end(fmt.Errorf("room: cannot send to the group: %w", err))
		}
	}
	gr.start()
	select {
	case <-g.joinedCh:
		return gr, nil
	case <-gr.done:
		err := gr.Err()
		gr.Close()
		return nil, err
	case <-ctx.Done():
		gr.Close()
		return nil, ctx.Err()
	}
}

// Nick is the member's nick.
func (gr *Group) Nick() string { return gr.g.nick }

// MaxText is the limit on a message's text, in bytes.
func (gr *Group) MaxText() int { return gr.g.cfg.MaxText }

// Send queues text for the group; it waits while MaxPending messages
// wait for the rate.
func (gr *Group) Send(ctx context.Context, text string) error {
	if err := CheckText([]byte(text), gr.g.cfg.MaxText); err != nil {
		return err
	}
	for {
		gr.d.mu.Lock()
		g := gr.g
		if g.ended || g.state >= gLeaving {
			err := g.err
			gr.d.mu.Unlock()
			if err == nil {
				err = ErrLeft
			}
			return err
		}
		if len(g.queue) < g.cfg.MaxPending {
			g.queue = append(g.queue, []byte(text))
			g.pumpOwn(gr.d.clock.Now())
			gr.d.flush()
			gr.d.mu.Unlock()
			gr.d.poke()
			return nil
		}
		gr.d.mu.Unlock()
		select {
		case <-gr.space:
		case <-gr.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Leave sends what is queued, says goodbye, and waits until every other
// member has confirmed that it has all of this member's messages
// (repairing what they miss meanwhile), or Linger has passed. It returns
// nil when all confirmed.
func (gr *Group) Leave(ctx context.Context) error {
	gr.d.mu.Lock()
	g := gr.g
	if g.state == gJoined {
		g.state = gLeaving
		g.leaveAt = gr.d.clock.Now()
		g.waitFor = make(map[uint64]bool)
		for _, pr := range g.order {
			if pr.shown {
				g.waitFor[pr.session] = true
			}
		}
	}
	gr.d.mu.Unlock()
	gr.d.poke()
	select {
	case <-gr.done:
		return gr.Err()
	case <-ctx.Done():
		return fmt.Errorf("room: leaving: %w", ctx.Err())
	}
}

// Stats returns the counters so far.
func (gr *Group) Stats() GroupStats {
	gr.d.mu.Lock()
	defer gr.d.mu.Unlock()
	s := gr.g.stats
	s.Members = len(gr.g.peers)
	s.Rejected = gr.d.rejected()
	return s
}
