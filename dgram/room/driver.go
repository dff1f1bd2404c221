package room

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/udpchat/udpchat/dgram/seal"
)

// readBuf is the size of the receive buffer: any room packet, sealed,
// fits; anything longer is malformed whether or not it was cut.
const readBuf = 2048

// machine is a room protocol state machine: Hub, client or group. The
// driver calls it with its lock held.
type machine interface {
	// handle takes one datagram's plaintext.
	handle(b []byte, from netip.AddrPort, to netip.Addr, now time.Time)
	// tick runs timers and returns when it next has work (zero: none).
	tick(now time.Time) time.Time
}

// driver runs a machine on a Conn: one goroutine reads and hands every
// datagram to the machine, another runs its timers. Both hold mu while
// the machine runs; the machine sends through send, under mu. With a
// key, everything sent is sealed and everything received must open.
type driver struct {
	conn  Conn
	clock Clock
	m     machine

	mu       sync.Mutex
	sealer   *seal.Sealer
	opener   *seal.Opener
	wbuf     []byte
	own      uint64 // our seal session: reflections of it are skipped
	sendErrs uint64
	lastErr  error
	onErr    func(err error) // a read error that is not the end (a refusal); under mu
	after    func()          // called after each step, without mu (deliveries)

	kick    chan struct{}
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	readErr error // why the reader stopped, when not Close
}

func newDriver(conn Conn, clock Clock, key *seal.Key) (*driver, error) {
	d := &driver{conn: conn, clock: clock, kick: make(chan struct{}, 1), closing: make(chan struct{})}
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

// send seals (with a key) and writes b; called by the machine under mu.
func (d *driver) send(b []byte, to netip.AddrPort, src netip.Addr) {
	if d.sealer != nil {
		var err error
		if d.wbuf, err = d.sealer.Seal(d.wbuf[:0], b, d.clock.Now()); err != nil {
			d.sendErrs++
			d.lastErr = err
			return
		}
		b = d.wbuf
	}
	if err := d.conn.WritePacket(b, to, src); err != nil {
		d.sendErrs++
		d.lastErr = err
	}
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
	buf := make([]byte, readBuf)
	for {
		n, from, to, err := d.conn.ReadPacket(buf)
		if err != nil {
			select {
			case <-d.closing:
				return
			default:
			}
			if isRefused(err) {
				d.mu.Lock()
				if d.onErr != nil {
					d.onErr(err)
				}
				d.mu.Unlock()
				d.poke()
				if d.after != nil {
					d.after()
				}
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			d.mu.Lock()
			d.readErr = err
			if d.onErr != nil {
				d.onErr(err)
			}
			d.mu.Unlock()
			if d.after != nil {
				d.after()
			}
			return
		}
		b := buf[:n]
		d.mu.Lock()
		if d.opener != nil {
			if h, ok := seal.ParseHeader(b); ok && h.Session == d.own {
				d.mu.Unlock()
				continue // our own datagram, looped back (multicast)
			}
			out, _, cause := d.opener.Open(b[seal.HeaderLen:seal.HeaderLen], from, b)
			if cause != seal.None {
				d.mu.Unlock()
				continue // counted by the opener
			}
			b = out
		}
		d.m.handle(b, from, to, d.clock.Now())
		d.mu.Unlock()
		d.poke()
		if d.after != nil {
			d.after()
		}
	}
}

func (d *driver) timer() {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		now := d.clock.Now()
		next := d.m.tick(now)
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

// close stops both goroutines and waits for them; it leaves the Conn open.
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
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
