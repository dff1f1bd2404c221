package arq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/udpchat/udpchat/dgram/seq"
)

// Packet types: values of the v1 header's type field that arq uses.
const (
	TypeSyn    = 16 // open: the client's connection ID, window and segment size
	TypeSynAck = 17 // the server's answer
	TypeData   = 18 // a segment of a message
	TypeAck    = 19 // cumulative acknowledgement, window, SACK and D-SACK ranges
	TypeFin    = 20 // no data after Seq
	TypeFinAck = 21 // everything up to the FIN arrived
	TypeReset  = 22 // abort
	TypePing   = 23 // keepalive; answered with an ACK
	TypeCookie = 24 // the client echoes the server's cookie: its address is proven
)

// Data flags.
const (
	FlagEnd  = 1 << 0 // the last segment of a message
	FlagRetx = 1 << 1 // a retransmission (informational)
)

// FIN flags.
const (
	// FinAcks: the sender of this FIN has received the peer's FIN and
	// everything before it, so this FIN also acknowledges the peer's.
	FinAcks = 1 << 0
)

// Packet sizes.
const (
	// baseLen is the v1 header and the connection ID.
	baseLen = seq.HeaderLen + 4
	// crcLen is the CRC-32C trailer.
	crcLen = 4
	// DataOverhead is what a DATA packet adds to its payload.
	DataOverhead = baseLen + 1 + crcLen
	// MaxSACK is the most SACK ranges an ACK carries.
	MaxSACK = 32
	// MaxDSACK is the most duplicate-segment (D-SACK) ranges an ACK
	// carries.
	MaxDSACK = 4
	// CookieLen is the size of the server's address-validation cookie:
	// a 4-byte timestamp and a 12-byte truncated HMAC-SHA256.
	CookieLen = 16
)

// Range is a half-open range of segment numbers [Start, End).
type Range struct{ Start, End uint64 }

// Packet is one arq packet. Fields not used by its Type are zero.
type Packet struct {
	Type uint8
	Seq  uint64 // DATA: segment number; ACK: next segment expected; FIN: segments in all
	Sent int64  // the sender's clock, Unix ns
	Conn uint32 // connection ID, chosen at random by the client

	Flags   uint8  // DATA
	Payload []byte // DATA; aliases the decoded buffer

	Window uint32 // ACK, SYN, SYN-ACK, COOKIE: free receive buffer, in segments
	MSS    uint16 // SYN, SYN-ACK, COOKIE: largest payload the sender of it accepts
	// ACK: the sent field of the latest-sent DATA that arrived since the
	// receiver's previous ACK (0: none), as TCP's timestamp echo: it
	// tells whether a segment sent twice arrived as the retransmission
	// or as the original.
	Echo  int64
	NSACK int // ACK: ranges in SACK
	SACK  [MaxSACK]Range
	// ACK: segments that arrived again, already held or delivered
	// (D-SACK, RFC 2883): they tell the sender which retransmissions
	// were needless.
	NDSACK int
	DSACK  [MaxDSACK]Range

	Cookie [CookieLen]byte // SYN-ACK, COOKIE: the server's address-validation cookie

	Reason uint8 // RESET

	// frame, set by Machine.Next for DATA, is the segment's buffer: room
	// for the header, the payload, room for the CRC, so that the packet
	// can be encoded where it lies (Encode).
	frame []byte
}

// Reset reasons.
const (
	ReasonClosed   = 1 // the peer closed without reading everything
	ReasonUnknown  = 2 // the peer does not know this connection
	ReasonFailed   = 3 // the peer gave up (timeout, retries)
	ReasonTooLarge = 4 // a message over the peer's limit
	ReasonBusy     = 5 // the peer serves one transfer at a time and is busy
	ReasonFull     = 6 // the peer has as many connections as it allows
	ReasonStalled  = 7 // no data moved for the peer's idle timeout
	ReasonZeroWnd  = 8 // the peer's window stayed closed for the idle timeout
	ReasonRefused  = 9 // the receiving application refused what it was sent
)

// ReasonText says in words why a peer reset a connection.
func ReasonText(r uint8) string {
	switch r {
	case ReasonClosed:
		return "the peer closed before reading everything"
	case ReasonUnknown:
		return "the peer does not know this connection"
	case ReasonFailed:
		return "the peer gave up on the connection"
	case ReasonTooLarge:
		return "a message was over the peer's size limit"
	case ReasonBusy:
		return "the receiver is busy with another transfer"
	case ReasonFull:
		return "the receiver has as many connections as it allows"
	case ReasonStalled:
		return "no data moved for the peer's idle timeout"
	case ReasonZeroWnd:
		return "our receive window stayed closed for the peer's idle timeout"
	case ReasonRefused:
		return "the receiver refused the transfer"
	}
	return fmt.Sprintf("reason %d", r)
}

// Decode errors.
var (
	ErrShort    = errors.New("arq: packet too short")
	ErrChecksum = errors.New("arq: bad checksum")
	ErrType     = errors.New("arq: unknown packet type")
	ErrFormat   = errors.New("arq: malformed packet")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns p encoded: for a DATA packet that Machine.Next filled,
// in the buffer that holds its payload (valid until the next call of
// the Machine), without copying the payload; otherwise appended to
// scratch.
func (p *Packet) Encode(scratch []byte) []byte {
	if p.frame == nil || p.Type != TypeData {
		return p.Append(scratch)
	}
	f := p.frame
	var h [seq.HeaderLen]byte
	copy(f, seq.Header{Type: seq.Type(p.Type), Seq: p.Seq, Sent: p.Sent}.Append(h[:0]))
	binary.BigEndian.PutUint32(f[seq.HeaderLen:], p.Conn)
	f[baseLen] = p.Flags
	body := f[:len(f)-crcLen]
	binary.BigEndian.PutUint32(f[len(body):], crc32.Checksum(body, castagnoli))
	return f
}

// Append encodes p after b and returns the extended buffer.
func (p *Packet) Append(b []byte) []byte {
	start := len(b)
	b = seq.Header{Type: seq.Type(p.Type), Seq: p.Seq, Sent: p.Sent}.Append(b)
	b = binary.BigEndian.AppendUint32(b, p.Conn)
	switch p.Type {
	case TypeData:
		b = append(b, p.Flags)
		b = append(b, p.Payload...)
	case TypeAck:
		b = binary.BigEndian.AppendUint32(b, p.Window)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Echo))
		b = append(b, byte(p.NSACK))
		for _, r := range p.SACK[:p.NSACK] {
			b = binary.BigEndian.AppendUint64(b, r.Start)
			b = binary.BigEndian.AppendUint64(b, r.End)
		}
		b = append(b, byte(p.NDSACK))
		for _, r := range p.DSACK[:p.NDSACK] {
			b = binary.BigEndian.AppendUint64(b, r.Start)
			b = binary.BigEndian.AppendUint64(b, r.End)
		}
	case TypeSyn:
		b = binary.BigEndian.AppendUint32(b, p.Window)
		b = binary.BigEndian.AppendUint16(b, p.MSS)
	case TypeSynAck, TypeCookie:
		b = binary.BigEndian.AppendUint32(b, p.Window)
		b = binary.BigEndian.AppendUint16(b, p.MSS)
		b = append(b, p.Cookie[:]...)
	case TypeReset:
		b = append(b, p.Reason)
	case TypeFin:
		b = append(b, p.Flags)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// IsArq reports whether b looks like an arq packet (v1 header with an arq
// type), without checking it further.
func IsArq(b []byte) bool {
	return len(b) >= seq.HeaderLen && b[0] == seq.Magic0 && b[1] == seq.Magic1 && b[2] == seq.Version &&
		b[3] >= TypeSyn && b[3] <= TypeCookie
}

// Len returns the size of p encoded.
func (p *Packet) Len() int {
	n := baseLen + crcLen
	switch p.Type {
	case TypeData:
		n += 1 + len(p.Payload)
	case TypeAck:
		n += 14 + 16*(p.NSACK+p.NDSACK)
	case TypeSyn:
		n += 6
	case TypeSynAck, TypeCookie:
		n += 6 + CookieLen
	case TypeReset, TypeFin:
		n++
	}
	return n
}

// Decode parses b into p. p.Payload aliases b. Every length, count and
// range is checked, and the CRC-32C: a corrupted packet is an error, never
// a panic and never data.
func Decode(b []byte, p *Packet) error {
	if len(b) < baseLen+crcLen {
		return ErrShort
	}
	body := b[:len(b)-crcLen]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return ErrChecksum
	}
	h, _, err := seq.Decode(body)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	*p = Packet{Type: uint8(h.Type), Seq: h.Seq, Sent: h.Sent, Conn: binary.BigEndian.Uint32(body[seq.HeaderLen:])}
	rest := body[baseLen:]
	switch p.Type {
	case TypeData:
		if len(rest) < 1 {
			return ErrShort
		}
		p.Flags, p.Payload = rest[0], rest[1:]
	case TypeAck:
		if len(rest) < 13 {
			return ErrShort
		}
		p.Window, p.Echo, p.NSACK = binary.BigEndian.Uint32(rest), int64(binary.BigEndian.Uint64(rest[4:])), int(rest[12])
		rest = rest[13:]
		if p.NSACK > MaxSACK || len(rest) < 16*p.NSACK+1 {
			return fmt.Errorf("%w: %d SACK ranges in %d bytes", ErrFormat, p.NSACK, len(rest))
		}
		for i := range p.NSACK {
			r := Range{binary.BigEndian.Uint64(rest[16*i:]), binary.BigEndian.Uint64(rest[16*i+8:])}
			if r.Start >= r.End || r.Start <= p.Seq {
				return fmt.Errorf("%w: SACK range [%d, %d) with cumulative ack %d", ErrFormat, r.Start, r.End, p.Seq)
			}
			p.SACK[i] = r
		}
		rest = rest[16*p.NSACK:]
		p.NDSACK = int(rest[0])
		rest = rest[1:]
		if p.NDSACK > MaxDSACK || len(rest) != 16*p.NDSACK {
			return fmt.Errorf("%w: %d D-SACK ranges in %d bytes", ErrFormat, p.NDSACK, len(rest))
		}
		for i := range p.NDSACK {
			r := Range{binary.BigEndian.Uint64(rest[16*i:]), binary.BigEndian.Uint64(rest[16*i+8:])}
			if r.Start >= r.End {
				return fmt.Errorf("%w: D-SACK range [%d, %d)", ErrFormat, r.Start, r.End)
			}
			p.DSACK[i] = r
		}
	case TypeSyn:
		if len(rest) != 6 {
			return ErrShort
		}
		p.Window, p.MSS = binary.BigEndian.Uint32(rest), binary.BigEndian.Uint16(rest[4:])
	case TypeSynAck, TypeCookie:
		if len(rest) != 6+CookieLen {
			return ErrShort
		}
		p.Window, p.MSS = binary.BigEndian.Uint32(rest), binary.BigEndian.Uint16(rest[4:])
		copy(p.Cookie[:], rest[6:])
	case TypeReset:
		if len(rest) != 1 {
			return ErrShort
		}
		p.Reason = rest[0]
	case TypeFin:
		if len(rest) != 1 {
			return ErrShort
		}
		p.Flags = rest[0]
	case TypeFinAck, TypePing:
		if len(rest) != 0 {
			return fmt.Errorf("%w: %d extra bytes", ErrFormat, len(rest))
		}
	default:
		return ErrType
	}
	return nil
}
