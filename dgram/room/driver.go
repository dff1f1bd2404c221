package room

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seal"
)

// Sizes of the driver's buffers.
const (
	// readBuf is the size of each receive buffer: any room packet, sealed,
	// fits; anything longer is malformed whether or not it was cut.
	readBuf = 2048
	// readBatch is how many datagrams one read takes at most.
	readBatch = 16
	// writeBatch is how many datagrams wait to go out in one write.
	writeBatch = 64
)

// machine is a room protocol state machine: hub, client or group. The
// driver calls it with its lock held.
type machine interface {
	// handle takes one datagram's plaintext, from from, which arrived by
	// via (the local address it was sent to).
	handle(b []byte, from netip.AddrPort, via route, now time.Time)
	// tick runs timers and returns when it next has work (zero: none).
	tick(now time.Time) time.Time
}

// driver runs a machine on a BatchConn: one goroutine reads batches of
// datagrams and hands each to the machine, another runs its timers. Both
// hold mu while the machine runs. The machine sends through send, under
// mu; what it sends in one step leaves in one batch. With a key,
// everything sent is sealed and everything received must open.
type driver struct {
	conn  dgram.BatchConn
	clock Clock
	m     machine

	mu       sync.Mutex
	sealer   *seal.Sealer
	opener   *seal.Opener
	own      uint64 // our seal session: reflections of it are skipped
	wq       []dgram.Message
	wbufs    [][]byte
	sendErrs uint64
	lastErr  error
	cut      uint64          // datagrams truncated on arrival (over readBuf)
	onErr    func(err error) // a read error: a refusal, or the end; under mu
	onSend   func(err error) // a send that failed; under mu
	after    func()          // called after each step, without mu (deliveries)

	kick    chan struct{}
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	readErr error         // why the reader stopped, when not Close (under mu)
	dead    chan struct{} // closed when the reader stopped on an error
}

func newDriver(conn dgram.BatchConn, clock Clock, key *seal.Key) (*driver, error) {
	d := &driver{conn: conn, clock: clock, kick: make(chan struct{}, 1), closing: make(chan struct{}), dead: make(chan struct{})}
	if key != nil {
		s, err := key.NewSealer()
		if err != nil {
			return nil, err
		}
		d.sealer, d.own = s, s.Session()
		d.opener = key.NewOpener(seal.Config{})
		d.opener.Ignore(d.own)
	}
	return d, nil
}

// start runs the reader and the timer goroutines.
func (d *driver) start() {
	d.wg.Add(2)
	go d.reader()
	go d.timer()
}

// send queues b (sealed, with a key) for to, leaving by via; called by
// the machine under mu. The queue goes out at the end of the step (flush).
func (d *driver) send(b []byte, to netip.AddrPort, via route) {
	if len(d.wq) == writeBatch {
		d.flush()
	}
	i := len(d.wq)
	if i == len(d.wbufs) {
		d.wbufs = append(d.wbufs, make([]byte, 0, readBuf))
	}
	buf := d.wbufs[i][:0]
	if d.sealer != nil {
		var err error
		if buf, err = d.sealer.Seal(buf, b, d.clock.Now()); err != nil {
			d.sendErrs++
			d.lastErr = err
			return
		}
	} else {
		buf = append(buf, b...)
	}
	d.wbufs[i] = buf
	d.wq = append(d.wq, dgram.Message{Buf: buf, Addr: to, Local: via.local, IfIndex: via.ifindex})
}

// flush writes what the machine queued; under mu.
func (d *driver) flush() {
	q := d.wq
	for len(q) > 0 {
		n, err := d.conn.WriteBatch(q)
		if n >= len(q) {
			break
		}
		if err == nil {
			err = io.ErrShortWrite // a BatchConn that breaks its contract
		}
		// The message at n failed: count it and send the rest.
		d.sendErrs++
		d.lastErr = err
		if d.onSend != nil {
			d.onSend(err)
		}
		q = q[min(n+1, len(q)):]
	}
	clear(d.wq)
	d.wq = d.wq[:0]
}

// poke wakes the timer goroutine to recompute its deadline.
func (d *driver) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *driver) reader() {
	defer d.wg.Done()
	ms := make([]dgram.Message, readBatch)
	for i := range ms {
		ms[i].Buf = make([]byte, readBuf)
	}
	for {
		n, err := d.conn.ReadBatch(ms)
		if err != nil {
			select {
			case <-d.closing:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !isRefused(err) {
				continue
			}
			d.mu.Lock()
			if !isRefused(err) {
				d.readErr = err
			}
			if d.onErr != nil {
				d.onErr(err)
			}
			d.flush()
			d.mu.Unlock()
			d.poke()
			if d.after != nil {
				d.after()
			}
			if isRefused(err) {
				continue
			}
			close(d.dead)
			return
		}
		d.mu.Lock()
		now := d.clock.Now()
		for i := range ms[:n] {
			m := &ms[i]
			if m.Truncated {
				d.cut++
				continue
			}
			d.handle(m.Buf[:m.N], m.Addr, route{local: m.Local, ifindex: m.IfIndex}, now)
		}
		d.flush()
		d.mu.Unlock()
		d.poke()
		if d.after != nil {
			d.after()
		}
	}
}

// handle opens b (with a key) and hands it to the machine; under mu.
func (d *driver) handle(b []byte, from netip.AddrPort, via route, now time.Time) {
	if d.opener != nil {
		if h, ok := seal.ParseHeader(b); ok && h.Session == d.own {
			return // our own datagram, looped back (multicast)
		}
		out, _, cause := d.opener.Open(b[seal.HeaderLen:seal.HeaderLen], from, b)
		if cause != seal.None {
			return // counted by the opener
		}
		b = out
	}
	d.m.handle(b, from, via, now)
}

func (d *driver) timer() {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		now := d.clock.Now()
		next := d.m.tick(now)
		d.flush()
		d.mu.Unlock()
		if d.after != nil {
			d.after()
		}
		var wait <-chan time.Time
		if !next.IsZero() {
			if soon := now.Add(time.Millisecond); next.Before(soon) {
				next = soon // no busy loop on a deadline just past
			}
			wait = d.clock.At(next)
		}
		select {
		case <-wait:
		case <-d.kick:
		case <-d.closing:
			return
		}
	}
}

// close stops both goroutines and waits for them; it leaves the
// connection open.
func (d *driver) close() {
	d.once.Do(func() {
		close(d.closing)
		_ = d.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the reader
	})
	d.wg.Wait()
}

// rejected returns the seal rejections so far (zero without a key).
func (d *driver) rejected() seal.Rejections {
	if d.opener == nil {
		return seal.Rejections{}
	}
	return d.opener.Rejected()
}

// isRefused reports an ICMP port unreachable surfacing on a connected
// socket: nothing listens at the peer's address (yet, or any more).
func isRefused(err error) bool {
	return errors.Is(err, dgram.ErrRefused) || errors.Is(err, syscall.ECONNREFUSED)
}
