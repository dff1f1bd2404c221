package arq

import (
	"fmt"
	"net/netip"
	"time"
)

// Config tunes a connection, and for Listen, the listener. The zero value
// works: every field has a default, filled in by WithDefaults, and
// Validate names a field out of range.
type Config struct {
	// MSS is the largest payload of one DATA packet (default 1400 bytes,
	// which fits an Ethernet MTU with IP, UDP and arq headers). Each side
	// announces its own in SYN or SYN-ACK and sends at most the smaller
	// of the two; a DATA packet larger than the MSS a side announced is
	// dropped and counted (Stats.Oversized), never buffered.
	MSS int
	// SendBuffer bounds the segments a sender holds (unacknowledged plus
	// queued), default 8192; Send blocks when it is full. Its ring starts
	// small and grows as it fills.
	SendBuffer int
	// RecvWindow is the most segments the receiver buffers (default
	// 8192): out of order segments and delivered messages not yet read.
	// Its free part is advertised to the sender (flow control). The ring
	// that holds it starts at 64 segments and doubles each time the peer
	// has delivered half of it in order.
	RecvWindow int
	// RecvBuffer bounds, in bytes, what one connection holds received and
	// not yet read (default 16 MiB); the window advertised shrinks as it
	// fills.
	RecvBuffer int
	// MaxMessage bounds one message (default 16 MiB).
	MaxMessage int

	// MinRTO, MaxRTO and InitialRTO bound the retransmission timeout
	// (defaults 2ms, 2s, 250ms). RFC 6298 asks for at least 1s, and Linux
	// TCP uses 200ms, because their RTTs are Internet RTTs; loopback and
	// LAN RTTs are tens of microseconds (measured here: 20-150us under
	// load), and a 2ms floor (QUIC's granularity-based floor is 1ms) keeps
	// a lost tail from stalling a transfer for 200ms while staying above
	// Go's scheduling and GC noise. Tail loss probes (RFC 8985) fire
	// earlier still, at two smoothed RTTs. The backoff is also capped at
	// IdleTimeout/4, so that retries go on through an outage until the
	// idle timeout, and the path is tried again soon after it comes back.
	MinRTO, MaxRTO, InitialRTO time.Duration
	// Granularity is G in RTO = SRTT + max(G, 4*RTTVAR) (default 1ms).
	Granularity time.Duration
	// IdleTimeout ends a connection that heard nothing from its peer for
	// this long (default 15s), one whose data the peer did not acknowledge
	// for this long, and one whose peer kept its window closed for this
	// long. KeepAlive (default IdleTimeout/5) is how long a quiet side
	// waits before it pings.
	IdleTimeout, KeepAlive time.Duration
	// InitialWindow is the congestion window at the start, in segments
	// (default 10, as RFC 6928).
	InitialWindow int

	// MaxConns bounds a Listener's connections (default 256); a client
	// that proves its address beyond it is refused (RESET, ReasonFull).
	MaxConns int
	// AcceptQueue bounds the connections waiting for Accept (default 64);
	// beyond it a client is refused (RESET, ReasonFull).
	AcceptQueue int
	// MaxBuffered bounds, in bytes, what all of a Listener's connections
	// hold received and not yet read (default 32 MiB). Each connection
	// may hold 16 segments whatever the others hold.
	MaxBuffered int64

	// OnStray, if set, is told, by a Listener, of every datagram that is
	// not a packet of one of its connections nor of a handshake: not arq
	// at all ("not arq"), an arq type that does not decode ("malformed"),
	// a bad checksum ("corrupt"), a packet for no connection it knows
	// ("unknown connection"). It is called from the reading goroutine:
	// it must be quick and must not call the Listener.
	OnStray func(from netip.AddrPort, size int, why string)

	// Trace, if set, is told about every change of the connection's
	// state: RTT samples, timeouts, retransmissions and why, window
	// changes. It is called with the connection locked: it must not call
	// the connection.
	Trace func(TraceEvent)
}

// Defaults.
const (
	DefaultMSS           = 1400
	DefaultSendBuffer    = 8192
	DefaultRecvWindow    = 8192
	DefaultRecvBuffer    = 16 << 20
	DefaultMaxMessage    = 16 << 20
	DefaultMinRTO        = 2 * time.Millisecond
	DefaultMaxRTO        = 2 * time.Second
	DefaultInitialRTO    = 250 * time.Millisecond
	DefaultGranularity   = time.Millisecond
	DefaultIdleTimeout   = 15 * time.Second
	DefaultInitialWindow = 10
	DefaultMaxConns      = 256
	DefaultAcceptQueue   = 64
	DefaultMaxBuffered   = 32 << 20
	maxMSS               = 65000 - DataOverhead
)

// WithDefaults fills in the zero fields.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MSS, DefaultMSS)
	def(&c.SendBuffer, DefaultSendBuffer)
	def(&c.RecvWindow, DefaultRecvWindow)
	def(&c.RecvBuffer, DefaultRecvBuffer)
	def(&c.MaxMessage, DefaultMaxMessage)
	def(&c.InitialWindow, DefaultInitialWindow)
	def(&c.MaxConns, DefaultMaxConns)
	def(&c.AcceptQueue, DefaultAcceptQueue)
	if c.MaxBuffered == 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	defD(&c.MinRTO, DefaultMinRTO)
	defD(&c.MaxRTO, DefaultMaxRTO)
	defD(&c.InitialRTO, DefaultInitialRTO)
	defD(&c.Granularity, DefaultGranularity)
	defD(&c.IdleTimeout, DefaultIdleTimeout)
	defD(&c.KeepAlive, c.IdleTimeout/5)
	return c
}

// Validate checks a configuration (after WithDefaults) and returns an
// error naming the first field out of range.
func (c Config) Validate() error {
	switch {
	case c.MSS < 1 || c.MSS > maxMSS:
		return fmt.Errorf("arq: MSS must be from 1 to %d bytes, got %d", maxMSS, c.MSS)
	case c.SendBuffer < 1 || c.SendBuffer > 1<<20:
		return fmt.Errorf("arq: SendBuffer must be from 1 to %d segments, got %d", 1<<20, c.SendBuffer)
	case c.RecvWindow < 2 || c.RecvWindow > 1<<20:
		return fmt.Errorf("arq: RecvWindow must be from 2 to %d segments, got %d", 1<<20, c.RecvWindow)
	case c.RecvBuffer < 4*(c.MSS+DataOverhead):
		return fmt.Errorf("arq: RecvBuffer must hold at least 4 segments (%d bytes), got %d", 4*(c.MSS+DataOverhead), c.RecvBuffer)
	case c.MaxMessage < 1:
		return fmt.Errorf("arq: MaxMessage must be positive, got %d", c.MaxMessage)
	case c.MinRTO <= 0 || c.MaxRTO < c.MinRTO || c.InitialRTO < c.MinRTO || c.InitialRTO > c.MaxRTO:
		return fmt.Errorf("arq: need 0 < MinRTO (%v) <= InitialRTO (%v) <= MaxRTO (%v)", c.MinRTO, c.InitialRTO, c.MaxRTO)
	case c.Granularity < 0:
		return fmt.Errorf("arq: Granularity must not be negative, got %v", c.Granularity)
	case c.IdleTimeout <= 0 || c.KeepAlive <= 0 || c.KeepAlive >= c.IdleTimeout:
		return fmt.Errorf("arq: need 0 < KeepAlive (%v) < IdleTimeout (%v)", c.KeepAlive, c.IdleTimeout)
	case c.InitialWindow < 1:
		return fmt.Errorf("arq: InitialWindow must be at least 1, got %d", c.InitialWindow)
	case c.MaxConns < 1:
		return fmt.Errorf("arq: MaxConns must be at least 1, got %d", c.MaxConns)
	case c.AcceptQueue < 1:
		return fmt.Errorf("arq: AcceptQueue must be at least 1, got %d", c.AcceptQueue)
	case c.MaxBuffered < 1:
		return fmt.Errorf("arq: MaxBuffered must be positive, got %d", c.MaxBuffered)
	}
	return nil
}

// rtoCap is the most the retransmission timeout backs off to: MaxRTO, and
// at most a quarter of IdleTimeout, so that several retries fall inside
// it.
func (c *Config) rtoCap() time.Duration {
	return max(min(c.MaxRTO, c.IdleTimeout/4), c.MinRTO)
}

// TraceEvent is one change of a connection's state, for Config.Trace.
type TraceEvent struct {
	Time time.Time
	// Kind: "rtt", "timeout", "retransmit", "recovery", "congestion",
	// "spurious" (a retransmission shown needless by D-SACK), "undo" (a
	// reduction undone), "state".
	Kind       string
	Seq        uint64 // the segment concerned, if any
	Why        string // retransmissions: "sent", "rack", "tail loss probe"; recoveries: "loss", "done"
	SRTT       time.Duration
	RTTVAR     time.Duration
	RTO        time.Duration
	Cwnd       float64 // congestion window, segments
	InflightHi float64 // the bound congestion set on what is in flight, segments (0: none)
	InFlight   int
	Rate       float64 // pacing rate, segments per second (0: not pacing yet)
	Mode       string  // the model's mode: "startup", "drain", "probe_bw", "probe_rtt"
	Window     uint32  // the peer's advertised window
	State      string
}
