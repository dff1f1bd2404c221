package arq

import (
	"errors"
	"net"
	"time"
)

// Errors that end a connection. They match with errors.Is.
var (
	// ErrPeerUnreachable: the peer answered nothing for IdleTimeout during
	// the handshake, or acknowledged none of our data for IdleTimeout.
	ErrPeerUnreachable = errors.New("arq: the peer does not answer")
	// ErrIdle: nothing heard from the peer for IdleTimeout.
	ErrIdle = errors.New("arq: the peer went silent")
	// ErrZeroWindow: the peer answered, but kept its receive window closed
	// for IdleTimeout while we had data for it.
	ErrZeroWindow = errors.New("arq: the peer's receive window stayed closed")
	// ErrStalled: no data moved either way for the time a Conn was given
	// (SetProgressTimeout), although the peer kept the connection alive.
	ErrStalled = errors.New("arq: no data moved")
	// ErrReset: the peer aborted the connection. The error is a
	// *ResetError that says why.
	ErrReset = errors.New("arq: the peer reset the connection")
	// ErrBusy: the peer refused the connection because it is busy with
	// another one (a *ResetError with ReasonBusy).
	ErrBusy = errors.New("arq: the peer is busy")
	// ErrClosed: the connection was closed here.
	ErrClosed = net.ErrClosed
	// ErrTooLarge: a message over MaxMessage.
	ErrTooLarge = errors.New("arq: message too large")
)

// ResetError is the error of a connection the peer reset: Reason is the
// RESET packet's reason code (ReasonBusy, ReasonFull, ...).
type ResetError struct{ Reason uint8 }

func (e *ResetError) Error() string {
	return "arq: the peer reset the connection: " + ReasonText(e.Reason)
}

// Is matches ErrReset, and ErrBusy for ReasonBusy.
func (e *ResetError) Is(target error) bool {
	return target == ErrReset || (target == ErrBusy && e.Reason == ReasonBusy)
}

// Stats counts what a connection did. Figures about the congestion state
// are current values.
type Stats struct {
	MessagesSent, MessagesReceived uint64
	BytesSent, BytesReceived       uint64 // payload bytes, first transmissions / delivered
	BytesAcked                     uint64 // payload bytes the peer acknowledged cumulatively
	SegmentsSent                   uint64 // DATA packets, first transmissions
	Retransmits                    uint64 // DATA packets sent again (tail loss probes included)
	Spurious                       uint64 // retransmissions shown needless by D-SACK: the original had arrived
	DSACKs                         uint64 // D-SACK ranges received
	Undos                          uint64 // window reductions undone because D-SACK showed their losses were not
	Timeouts                       uint64 // retransmission timer expiries
	Recoveries                     uint64 // recoveries from loss found by ACKs (RACK)
	Congestion                     uint64 // round trips whose loss, with a queue, the model took for congestion
	Reordering                     uint64 // reordering seen (a segment sent once delivered after a later one): 0 or 1
	Probes                         uint64 // probes: tail loss probes, and the two of each timeout
	PacketsSent, PacketsReceived   uint64 // every arq packet
	WireBytesSent                  uint64 // every byte of every packet sent, headers included
	AcksSent, AcksReceived         uint64
	SegmentsReceived               uint64 // DATA packets received, duplicates included
	DuplicateSegments              uint64
	OutOfOrder                     uint64 // segments that arrived ahead of a gap and were kept
	OutOfWindow                    uint64 // segments beyond the advertised window, dropped
	Oversized                      uint64 // DATA packets larger than the MSS we announced, dropped
	DroppedMemory                  uint64 // segments dropped for want of memory (RecvBuffer, the listener's MaxBuffered)
	RingGrowths                    uint64 // times the receive ring doubled
	Corrupt                        uint64 // packets with a bad checksum from the peer's address that name this connection, dropped
	HOLMessages                    uint64 // messages that waited behind a gap before delivery
	HOLWait, HOLMax                time.Duration
	SRTT, RTTVAR, RTO              time.Duration
	Cwnd                           float64       // congestion window, segments
	InflightHi                     float64       // the bound congestion set on what is in flight (0: none)
	PacingRate                     float64       // segments per second (0: not pacing)
	BtlBw                          float64       // the model's bottleneck rate, segments per second
	MinRTT                         time.Duration // the model's minimum RTT
	Mode                           string        // the model's mode: startup, drain, probe_bw, probe_rtt
	ReorderWindow                  time.Duration // RACK's reordering window
	PeerWindow                     uint32
	Buffered                       int // bytes held received and not yet read (the ring included)
}
