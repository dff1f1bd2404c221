package room

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/guard"
	"github.com/udpchat/udpchat/dgram/seal"
)

// Defaults of ServerConfig (and of members, which learn them from WELCOME).
const (
	DefaultMaxMembers = 256
	DefaultMaxText    = 1000
	DefaultRate       = 50 // messages a second per member
	DefaultKeepalive  = 2 * time.Second
	DefaultTimeout    = 10 * time.Second
	DefaultWindow     = 64   // events in flight per link
	DefaultMaxQueue   = 1024 // events queued per member
	DefaultMaxQueued  = 65536
	DefaultInitialRTO = 250 * time.Millisecond
	DefaultMinRTO     = 50 * time.Millisecond
	DefaultMaxRTO     = 2 * time.Second
)

// MaxTextLimit is the largest MaxText a room can have: a message event
// with the longest nick still fits MaxPacket.
const MaxTextLimit = MaxPacket - HeaderLen - 1 - 8 - 1 - MaxNickLen

// ServerConfig configures a Server. The zero value works: every zero
// field takes its default.
type ServerConfig struct {
	// MaxMembers bounds the room (default 256); a JOIN past it is refused.
	MaxMembers int
	// MaxText bounds a message's text, in bytes (default 1000, at most
	// MaxTextLimit).
	MaxText int
	// Rate is how many messages a second each member may send (default
	// 50), with bursts of Burst (default Rate). The server holds back
	// (and does not acknowledge) a member's messages over it.
	Rate, Burst int
	// Keepalive is how often members send a keepalive when they have
	// nothing else to send (default 2s); Timeout is how long the server
	// waits without a word from a member before it announces that the
	// member timed out (default 10s).
	Keepalive, Timeout time.Duration
	// Window bounds the events in flight to each member (default 64);
	// MaxQueue the events queued for one member (default 1024); MaxQueued
	// those queued for all members together (default 65536). A message
	// that does not fit is counted as missed, and its recipient is told
	// how many it missed from whom.
	Window, MaxQueue, MaxQueued int
	// InitialRTO, MinRTO and MaxRTO bound the retransmission timeout
	// (defaults 250ms, 50ms, 2s).
	InitialRTO, MinRTO, MaxRTO time.Duration
	// Guard rates the replies to addresses that have not joined
	// (CHALLENGE, REFUSE, RESET); its zero value takes guard's defaults.
	Guard guard.Config
	// Key, when set, seals the room: only members with the key can join,
	// read or speak.
	Key *seal.Key
	// Clock is the server's time (default: the system clock).
	Clock Clock
	// Log, when set, is told of joins, leaves and refusals. It is called
	// from the server's goroutines, one call at a time, and must not call
	// the Server's methods.
	Log func(ServerEvent)
}

// withDefaults fills in the zero fields.
func (c ServerConfig) withDefaults() ServerConfig {
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
	def(&c.MaxMembers, DefaultMaxMembers)
	def(&c.MaxText, DefaultMaxText)
	def(&c.Rate, DefaultRate)
	def(&c.Burst, c.Rate)
	def(&c.Window, DefaultWindow)
	def(&c.MaxQueue, DefaultMaxQueue)
	def(&c.MaxQueued, DefaultMaxQueued)
	defd(&c.Keepalive, DefaultKeepalive)
	defd(&c.Timeout, DefaultTimeout)
	defd(&c.InitialRTO, DefaultInitialRTO)
	defd(&c.MinRTO, DefaultMinRTO)
	defd(&c.MaxRTO, DefaultMaxRTO)
	if c.Clock == nil {
		c.Clock = SystemClock
	}
	return c
}

// Validate checks the configuration and returns an error that names the
// field at fault.
func (c ServerConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxText > MaxTextLimit:
		return fmt.Errorf("room: MaxText %d is over the limit of %d bytes", c.MaxText, MaxTextLimit)
	case c.Rate > 65535:
		return fmt.Errorf("room: Rate %d is over 65535 messages a second", c.Rate)
	case c.Window > 64*1024:
		return fmt.Errorf("room: Window %d is over 65536", c.Window)
	case c.Keepalive >= c.Timeout:
		return fmt.Errorf("room: Keepalive %v must be shorter than Timeout %v", c.Keepalive, c.Timeout)
	case c.Timeout > time.Hour:
		return fmt.Errorf("room: Timeout %v is over an hour", c.Timeout)
	case c.MinRTO > c.MaxRTO:
		return fmt.Errorf("room: MinRTO %v is over MaxRTO %v", c.MinRTO, c.MaxRTO)
	}
	return nil
}

// ServerEventType says what a ServerEvent reports.
type ServerEventType uint8

// Server events.
const (
	EventJoined  ServerEventType = iota + 1 // a member joined
	EventLeft                               // a member left or timed out (Reason)
	EventRefused                            // a join was refused (Reason)
)

// ServerEvent is what a Server's Log is told.
type ServerEvent struct {
	Type   ServerEventType
	Nick   string
	Addr   netip.AddrPort // the member's address
	Local  netip.Addr     // EventJoined: the address it contacted, when known
	Reason string         // EventLeft: "left" or "timeout"; EventRefused: why
}

// ServerStats counts what a Server did.
type ServerStats struct {
	Members     int    // members now
	Joined      uint64 // members that joined
	Left        uint64 // members that said goodbye
	TimedOut    uint64 // members that fell silent for Timeout
	Refused     uint64 // joins refused: nick taken or bad, room full, bad cookie
	Hellos      uint64 // HELLOs answered with a CHALLENGE
	Messages    uint64 // messages accepted from members
	Relayed     uint64 // message events queued for recipients
	Retransmits uint64 // events sent again
	Duplicates  uint64 // members' events that arrived twice
	RateLimited uint64 // messages held back by their sender's rate
	BadMessages uint64 // message events dropped: over MaxText, not UTF-8, a kind members do not send
	Missed      uint64 // events not queued: a recipient's queue, or all queues, full
	Queued      int    // events queued now, waiting for acknowledgements
	QueuedPeak  int    // the most events queued at once
	Malformed   uint64 // datagrams that are not room packets for a server
	Strangers   uint64 // packets from addresses that are not members (answered with RESET)
	Suppressed  uint64 // replies to strangers not sent: over 3x what they sent, or the guard's rates
	SendErrors  uint64 // datagrams the socket refused to send
	Rejected    seal.Rejections
	Guard       [guard.NumVerdicts]uint64
}

// Server is a room server (a hub): members join it with HELLO and JOIN,
// and it relays each member's messages to every other member, reliably
// and in order, with the news of joins, leaves and timeouts.
type Server struct {
	d      *driver
	h      *hub
	cfg    ServerConfig
	logq   []ServerEvent
	lmu    sync.Mutex // serialises Log calls
	closed bool       // under d.mu
}

// NewServer returns a server that serves the room on conn, which the
// caller opened and closes after Close. It starts serving at once. On a
// socket bound to a wildcard address, conn must carry each datagram's
// destination (dgram.ConnConfig.Dst) for replies to leave from the
// address each member contacted.
func NewServer(conn dgram.BatchConn, cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d, err := newDriver(conn, cfg.Clock, cfg.Key)
	if err != nil {
		return nil, err
	}
	s := &Server{d: d, cfg: cfg}
	s.h = newHub(cfg, d.send, func(e ServerEvent) {
		if cfg.Log != nil {
			s.logq = append(s.logq, e)
		}
	})
	d.m = s.h
	d.after = s.flushLog
	d.start()
	return s, nil
}

// flushLog hands the queued events to Log, outside the lock.
func (s *Server) flushLog() {
	if s.cfg.Log == nil {
		return
	}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	s.d.mu.Lock()
	q := s.logq
	s.logq = nil
	s.d.mu.Unlock()
	for _, e := range q {
		s.cfg.Log(e)
	}
}

// Addr is the address the server is bound to.
func (s *Server) Addr() netip.AddrPort {
	return addrPortOf(s.d.conn.LocalAddr())
}

// Members returns the members' nicks, in the order they joined.
func (s *Server) Members() []string {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	nicks := make([]string, len(s.h.order))
	for i, m := range s.h.order {
		nicks[i] = m.nick
	}
	return nicks
}

// Stats returns the counters so far.
func (s *Server) Stats() ServerStats {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	st := s.h.snapshot()
	st.SendErrors = s.d.sendErrs
	st.Rejected = s.d.rejected()
	return st
}

// Done is closed if the server stops serving on its own: reading its
// socket failed (Err says how). Close does not close it.
func (s *Server) Done() <-chan struct{} { return s.d.dead }

// Err is why the server stopped serving on its own, or nil.
func (s *Server) Err() error {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.d.readErr
}

// Close tells the members that the room closes (one RESET each, not
// retransmitted), stops the server and waits for its goroutines. It
// leaves the Conn open. It returns nil, or why the server had stopped
// reading before.
func (s *Server) Close() error {
	s.d.mu.Lock()
	if !s.closed {
		s.closed = true
		s.h.close()
		s.d.flush()
	}
	s.d.mu.Unlock()
	s.d.close()
	s.flushLog()
	return s.Err()
}
