// Package probe is the prober of `udpchat ping` and of `udpchat bench
// --mode latency`, as a pure state machine: it builds numbered probes,
// matches each reply to the probe it answers, compares the reply with
// what was sent, and says which probes timed out. It does no I/O and
// reads no clock: every call takes the time, so a test drives it probe by
// probe, and the two commands share one definition of a reply.
//
// A probe is the 20-byte sequence header of package seq (type
// Config.Type, seq from 0, the send time), then Size-20 bytes of a fixed
// pattern. Any echo server sends it back unchanged; a reply is
//
//   - a Reply when it is the probe, byte for byte, within Timeout (the
//     round trip counts; a reply whose number is below one already
//     answered is also Reordered);
//   - Late when it comes after Timeout (shown, not counted as received);
//   - a Duplicate when its probe was already answered;
//   - Corrupted when its header names a probe sent but its bytes differ
//     from that probe's (ping(8)'s "wrong data byte"), never received;
//   - Unknown when it names a probe never sent, or too old to remember;
//   - Malformed when it is not a probe at all.
//
// A probe with no reply within Timeout is reported once by Expire.
package probe

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

// Config configures a Prober. Size and Timeout are required.
type Config struct {
	// Size is a probe's size in bytes, the header included.
	Size int
	// Type is the probes' header type (seq.TypeData for ping).
	Type seq.Type
	// Timeout is how long a probe waits for its reply; a later reply is
	// Late.
	Timeout time.Duration
	// Window is how many recent probes are remembered (default 4096); a
	// reply to an older one is Unknown.
	Window int
	// Fill, if set, fills a probe's payload (Size-20 bytes) once; the
	// default is "abcdefghijklmnopqrstuvwxyzabc...".
	Fill func(payload []byte)
}

// Kind is what a reply, or an expired probe, turned out to be.
type Kind uint8

// Kinds of events.
const (
	Reply Kind = iota
	Late
	Duplicate
	Corrupted
	Unknown
	Malformed
	Timeout
)

var kindNames = [...]string{"reply", "late", "duplicate", "corrupted", "unknown", "malformed", "timeout"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Event is one reply classified, or one probe expired.
type Event struct {
	Kind      Kind
	Seq       uint64        // the probe concerned (not for Malformed)
	RTT       time.Duration // Reply, Late, Duplicate, Corrupted: since the probe left
	Reordered bool          // Reply: an earlier-numbered probe answered after a later one
	// Corrupted: the first byte that differs (its offset in the
	// datagram), what was sent and what came back (Want and Got are -1
	// past the end of one of them: a reply of another size).
	Offset    int
	Want, Got int
	Err       error // Malformed: why
}

// Stats counts what a Prober saw.
type Stats struct {
	Transmitted, Received                  uint64
	Duplicates, Late, Reordered, Corrupted uint64
	Malformed, Unknown, Timeouts           uint64
	RTTMin, RTTMax                         time.Duration
	rttSum, rttSum2                        float64 // ms, ms²
}

// RTTAvg returns the mean round trip of the replies received.
func (s Stats) RTTAvg() time.Duration {
	if s.Received == 0 {
		return 0
	}
	return time.Duration(s.rttSum / float64(s.Received) * 1e6)
}

// RTTMdev returns ping(8)'s mdev: the standard deviation of the round
// trips, in milliseconds.
func (s Stats) RTTMdev() float64 {
	if s.Received == 0 {
		return 0
	}
	n := float64(s.Received)
	avg := s.rttSum / n
	return math.Sqrt(max(0, s.rttSum2/n-avg*avg))
}

// LossPct is the share of probes sent that got no reply counted as
// received, in percent.
func (s Stats) LossPct() float64 {
	if s.Transmitted == 0 {
		return 0
	}
	return float64(s.Transmitted-s.Received) * 100 / float64(s.Transmitted)
}

type slot struct {
	seq      uint64
	sent     time.Time
	valid    bool
	replied  bool // a reply, on time or late, was seen
	resolved bool // replied or expired: no longer outstanding
}

// Prober is the state of one run of probes. It is not safe for
// concurrent use.
type Prober struct {
	cfg        Config
	ring       []slot
	buf        []byte // the probe being sent
	want       []byte // a reply's expected bytes, rebuilt to compare
	next       uint64 // next seq
	oldest     uint64 // oldest probe still outstanding
	maxReplied uint64
	anyReplied bool
	st         Stats
}

// ErrConfig is returned by New for a configuration it cannot use.
var ErrConfig = errors.New("probe: bad configuration")

// New returns a Prober.
func New(cfg Config) (*Prober, error) {
	if cfg.Window <= 0 {
		cfg.Window = 4096
	}
	if cfg.Size < seq.HeaderLen || cfg.Timeout <= 0 {
		return nil, fmt.Errorf("%w: need Size >= %d and a positive Timeout, got %d and %v", ErrConfig, seq.HeaderLen, cfg.Size, cfg.Timeout)
	}
	p := &Prober{cfg: cfg, ring: make([]slot, cfg.Window), buf: make([]byte, cfg.Size), want: make([]byte, cfg.Size)}
	payload := p.buf[seq.HeaderLen:]
	if cfg.Fill != nil {
		cfg.Fill(payload)
	} else {
		for i := range payload {
			payload[i] = 'a' + byte(i%26)
		}
	}
	copy(p.want, p.buf)
	return p, nil
}

// Next returns the next probe, numbered and stamped with now, and records
// it as sent at now. The slice is the Prober's, valid until the next call.
func (p *Prober) Next(now time.Time) (seqNo uint64, probe []byte) {
	q := p.next
	seq.Header{Type: p.cfg.Type, Seq: q, Sent: now.UnixNano()}.Put(p.buf)
	p.ring[q%uint64(len(p.ring))] = slot{seq: q, sent: now, valid: true}
	p.next++
	p.st.Transmitted++
	return q, p.buf
}

// Sent returns how many probes Next has made.
func (p *Prober) Sent() uint64 { return p.next }

// Outstanding returns how many probes wait for a reply (neither answered
// nor expired).
func (p *Prober) Outstanding() int {
	n := 0
	for q := p.oldest; q < p.next; q++ {
		if !p.ring[q%uint64(len(p.ring))].resolved {
			n++
		}
	}
	return n
}

// Deadline returns when the oldest outstanding probe expires (zero: none
// is outstanding).
func (p *Prober) Deadline() time.Time {
	p.advance()
	if p.oldest == p.next {
		return time.Time{}
	}
	return p.ring[p.oldest%uint64(len(p.ring))].sent.Add(p.cfg.Timeout)
}

// advance moves oldest past resolved probes.
func (p *Prober) advance() {
	for p.oldest < p.next && p.ring[p.oldest%uint64(len(p.ring))].resolved {
		p.oldest++
	}
	if p.next-p.oldest > uint64(len(p.ring)) {
		p.oldest = p.next - uint64(len(p.ring)) // forgotten: they can no longer expire
	}
}

// Expire reports, oldest first, each probe whose Timeout has passed by
// now without a reply, and forgets it as outstanding (a reply may still
// come: it is Late).
func (p *Prober) Expire(now time.Time, report func(Event)) {
	for {
		p.advance()
		if p.oldest == p.next {
			return
		}
		s := &p.ring[p.oldest%uint64(len(p.ring))]
		if now.Before(s.sent.Add(p.cfg.Timeout)) {
			return
		}
		s.resolved = true
		p.st.Timeouts++
		report(Event{Kind: Timeout, Seq: s.seq})
	}
}

// Reply classifies a datagram that came back, received at now.
func (p *Prober) Reply(b []byte, now time.Time) Event {
	h, _, err := seq.Decode(b)
	if err == nil && h.Type != p.cfg.Type {
		err = &seq.DecodeError{Err: seq.ErrType, Got: uint8(h.Type)}
	}
	if err != nil {
		p.st.Malformed++
		return Event{Kind: Malformed, Err: err}
	}
	s := &p.ring[h.Seq%uint64(len(p.ring))]
	if h.Seq >= p.next || !s.valid || s.seq != h.Seq {
		p.st.Unknown++
		return Event{Kind: Unknown, Seq: h.Seq}
	}
	ev := Event{Seq: h.Seq, RTT: now.Sub(s.sent)}
	// What was sent: the header as it left, and the payload.
	seq.Header{Type: p.cfg.Type, Seq: s.seq, Sent: s.sent.UnixNano()}.Put(p.want)
	if !bytes.Equal(b, p.want) {
		ev.Kind, ev.Offset, ev.Want, ev.Got = Corrupted, firstDiff(p.want, b), -1, -1
		if ev.Offset < len(p.want) {
			ev.Want = int(p.want[ev.Offset])
		}
		if ev.Offset < len(b) {
			ev.Got = int(b[ev.Offset])
		}
		p.st.Corrupted++
		return ev
	}
	switch {
	case s.replied:
		ev.Kind = Duplicate
		p.st.Duplicates++
	case ev.RTT > p.cfg.Timeout:
		ev.Kind = Late
		s.replied, s.resolved = true, true
		p.st.Late++
	default:
		ev.Kind = Reply
		s.replied, s.resolved = true, true
		p.st.Received++
		if p.anyReplied && h.Seq < p.maxReplied {
			ev.Reordered = true
			p.st.Reordered++
		}
		if !p.anyReplied || h.Seq > p.maxReplied {
			p.maxReplied, p.anyReplied = h.Seq, true
		}
		if p.st.Received == 1 || ev.RTT < p.st.RTTMin {
			p.st.RTTMin = ev.RTT
		}
		p.st.RTTMax = max(p.st.RTTMax, ev.RTT)
		ms := float64(ev.RTT.Nanoseconds()) / 1e6
		p.st.rttSum += ms
		p.st.rttSum2 += ms * ms
	}
	return ev
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// Stats returns the counters so far.
func (p *Prober) Stats() Stats { return p.st }
