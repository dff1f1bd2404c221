package room

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/udpchat/udpchat/dgram/seq"
)

// Type is a room packet's type: the type field of its v1 header. Rooms use
// 32 to 47 (seq uses 0, seal 2, arq 16 to 23).
type Type uint8

// Packet types of rooms with a server.
const (
	TypeHello     Type = 32 // member -> server: I want to join as nick
	TypeChallenge Type = 33 // server -> member: prove you receive here (cookie)
	TypeJoin      Type = 34 // member -> server: the cookie back, and the nick
	TypeWelcome   Type = 35 // server -> member: joined; the room's limits
	TypeRefuse    Type = 36 // server -> member: not joined, and why
	TypeEvent     Type = 37 // either way: one numbered event of a reliable stream
	TypeAck       Type = 38 // either way: events received (cumulative + 64-bit map)
	TypePing      Type = 39 // member -> server: keepalive, answered with an ACK
	TypeReset     Type = 40 // server -> member: you are not (or no longer) a member
)

// Packet types of multicast rooms.
const (
	TypeAnnounce    Type = 41 // I am here: nick, last message number, oldest in history
	TypeData        Type = 42 // a message, numbered by its sender
	TypeNack        Type = 43 // please send these numbers of that sender again
	TypeBye         Type = 44 // I leave; my last message number
	TypeByeAck      Type = 45 // I have all of that sender's messages through seq
	TypeConflict    Type = 46 // that nick is mine
	TypeUnavailable Type = 47 // numbers below seq are gone from my history
)

const (
	firstType = TypeHello
	lastType  = TypeUnavailable
)

var typeNames = [...]string{"HELLO", "CHALLENGE", "JOIN", "WELCOME", "REFUSE", "EVENT", "ACK", "PING", "RESET",
	"ANNOUNCE", "DATA", "NACK", "BYE", "BYE-ACK", "CONFLICT", "UNAVAILABLE"}

// String returns the type's name, as the wire format's table spells it.
func (t Type) String() string {
	if t >= firstType && t <= lastType {
		return typeNames[t-firstType]
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Kind is the kind of an event (a TypeEvent packet).
type Kind uint8

// Event kinds.
const (
	KindMessage Kind = 1 // a line of text: id, nick (empty from a member), text
	KindJoin    Kind = 2 // nick joined
	KindLeave   Kind = 3 // nick left (reason); from a member: "I leave", empty nick
	KindMembers Kind = 4 // part of the member list: more flag, nicks
	KindMissed  Kind = 5 // count messages from nick could not be delivered to you
)

// Leave reasons (KindLeave events, BYE packets).
const (
	ReasonLeft    = 1 // the member said goodbye
	ReasonTimeout = 2 // nothing heard from it for the room's timeout
)

// Refusal codes (REFUSE packets).
const (
	RefuseNickTaken = 1 // another member has this nick
	RefuseBadNick   = 2 // the nick breaks the rules (CheckNick)
	RefuseFull      = 3 // the room has its maximum of members
	RefuseCookie    = 4 // the cookie is wrong or expired: start again with HELLO
)

// Reset codes (RESET packets).
const (
	ResetNotMember = 1 // not a member (timed out, or the server restarted): join again
	ResetClosed    = 2 // the server is shutting down
)

// Announce flags.
const (
	AnnounceProbe = 1 << 0 // joining: members answer with an ANNOUNCE, the nick's owner with a CONFLICT
)

// Sizes.
const (
	// HeaderLen is the common part of every room packet: the v1 header
	// and the session ID.
	HeaderLen = seq.HeaderLen + 8
	// CookieLen is the size of a CHALLENGE cookie.
	CookieLen = 16
	// MaxNickLen is the longest nick, in bytes.
	MaxNickLen = 32
	// MaxNackRanges is the most ranges a NACK carries.
	MaxNackRanges = 16
	// MaxPacket is the largest room packet this package sends or accepts
	// (before sealing): sealed (44 bytes more), it still fits the 1232
	// bytes of UDP payload that every IPv6 path carries (1280 - 40 - 8).
	MaxPacket = 1180
	// MaxMembersPerEvent is the most nicks one MEMBERS event carries.
	MaxMembersPerEvent = 24
)

// Range is a half-open range of message numbers [Start, End).
type Range struct{ Start, End uint64 }

// Packet is one decoded room packet. Fields a type does not use are zero.
// Byte slices alias the decoded buffer.
type Packet struct {
	Type    Type
	Seq     uint64 // EVENT: event number; ACK: cumulative; DATA: message number; ANNOUNCE, BYE: last message number; BYE-ACK: through; UNAVAILABLE: oldest kept
	Sent    int64  // the sender's clock, Unix ns (informational)
	Session uint64 // the member's session: its own, or from the server the one it addresses

	Nick   []byte          // HELLO, JOIN, EVENT (message, join, leave, missed), ANNOUNCE, DATA, BYE, CONFLICT
	Text   []byte          // EVENT message, DATA, REFUSE (the reason)
	Cookie [CookieLen]byte // CHALLENGE, JOIN

	Kind   Kind   // EVENT
	ID     uint64 // EVENT message: the sender's number for it
	Count  uint64 // EVENT missed: how many
	Code   uint8  // REFUSE, RESET; EVENT leave and BYE: the reason
	More   bool   // EVENT members: more MEMBERS events follow
	List   []byte // EVENT members: the nicks, each a length byte and the bytes
	NList  int    // EVENT members: how many nicks List holds
	Bits   uint64 // ACK: bit i set means event Seq+2+i arrived
	Flags  uint8  // ANNOUNCE
	Low    uint64 // ANNOUNCE: the oldest message number still in history (last+1 when none)
	Target uint64 // NACK, BYE-ACK, CONFLICT: the session it is about

	MaxText   uint16 // WELCOME: the longest message text, in bytes
	Rate      uint16 // WELCOME: messages a second a member may send
	Keepalive uint32 // WELCOME: ms between a member's keepalives
	Timeout   uint32 // WELCOME: ms of silence after which a member is timed out

	NRanges int // NACK
	Ranges  [MaxNackRanges]Range
}

// Decode errors: Decode returns one of these, wrapped with details.
var (
	// ErrShort: the packet ends before its fields do.
	ErrShort = errors.New("room: packet too short")
	// ErrNotRoom: not a v1 header, or a type outside the room's range.
	ErrNotRoom = errors.New("room: not a room packet")
	// ErrFormat: a field out of its range, or bytes left over.
	ErrFormat = errors.New("room: malformed packet")
)

// IsRoom reports whether b starts with a v1 header of a room type.
func IsRoom(b []byte) bool {
	return len(b) >= seq.HeaderLen && b[0] == seq.Magic0 && b[1] == seq.Magic1 && b[2] == seq.Version &&
		Type(b[3]) >= firstType && Type(b[3]) <= lastType
}

func appendNick(b, nick []byte) []byte {
	b = append(b, byte(len(nick)))
	return append(b, nick...)
}

// Append encodes p after b and returns the extended buffer. It does not
// check p: encode only what Decode would accept (see Check).
func (p *Packet) Append(b []byte) []byte {
	b = seq.Header{Type: seq.Type(p.Type), Seq: p.Seq, Sent: p.Sent}.Append(b)
	b = binary.BigEndian.AppendUint64(b, p.Session)
	switch p.Type {
	case TypeHello:
		b = appendNick(b, p.Nick)
	case TypeChallenge:
		b = append(b, p.Cookie[:]...)
	case TypeJoin:
		b = append(b, p.Cookie[:]...)
		b = appendNick(b, p.Nick)
	case TypeWelcome:
		b = binary.BigEndian.AppendUint16(b, p.MaxText)
		b = binary.BigEndian.AppendUint16(b, p.Rate)
		b = binary.BigEndian.AppendUint32(b, p.Keepalive)
		b = binary.BigEndian.AppendUint32(b, p.Timeout)
	case TypeRefuse:
		b = append(b, p.Code)
		b = append(b, p.Text...)
	case TypeEvent:
		b = append(b, byte(p.Kind))
		switch p.Kind {
		case KindMessage:
			b = binary.BigEndian.AppendUint64(b, p.ID)
			b = appendNick(b, p.Nick)
			b = append(b, p.Text...)
		case KindJoin:
			b = appendNick(b, p.Nick)
		case KindLeave:
			b = append(b, p.Code)
			b = appendNick(b, p.Nick)
		case KindMembers:
			var more byte
			if p.More {
				more = 1
			}
			b = append(b, more, byte(p.NList))
			b = append(b, p.List...)
		case KindMissed:
			b = binary.BigEndian.AppendUint64(b, p.Count)
			b = appendNick(b, p.Nick)
		}
	case TypeAck:
		b = binary.BigEndian.AppendUint64(b, p.Bits)
	case TypeReset:
		b = append(b, p.Code)
	case TypeAnnounce:
		b = append(b, p.Flags)
		b = binary.BigEndian.AppendUint64(b, p.Low)
		b = appendNick(b, p.Nick)
	case TypeData:
		b = appendNick(b, p.Nick)
		b = append(b, p.Text...)
	case TypeNack:
		b = binary.BigEndian.AppendUint64(b, p.Target)
		b = append(b, byte(p.NRanges))
		for _, r := range p.Ranges[:p.NRanges] {
			b = binary.BigEndian.AppendUint64(b, r.Start)
			b = binary.BigEndian.AppendUint64(b, r.End)
		}
	case TypeBye:
		b = append(b, p.Code)
		b = appendNick(b, p.Nick)
	case TypeByeAck:
		b = binary.BigEndian.AppendUint64(b, p.Target)
	case TypeConflict:
		b = binary.BigEndian.AppendUint64(b, p.Target)
		b = appendNick(b, p.Nick)
	}
	return b
}

// AppendList appends nick to a MEMBERS list and counts it.
func (p *Packet) AppendList(nick []byte) {
	p.List = appendNick(p.List, nick)
	p.NList++
}

// EachNick calls f with each nick of a MEMBERS event's list.
func (p *Packet) EachNick(f func(nick []byte)) {
	l := p.List
	for len(l) > 0 {
		n := int(l[0])
		f(l[1 : 1+n])
		l = l[1+n:]
	}
}

// reader takes fields off the front of a packet body.
type reader struct {
	b   []byte
	err error
}

func (r *reader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if len(r.b) < n {
		r.err = ErrShort
		return false
	}
	return true
}

func (r *reader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// nick reads a length byte and that many bytes, at most MaxNickLen.
func (r *reader) nick() []byte {
	n := int(r.u8())
	if r.err == nil && n > MaxNickLen {
		r.err = fmt.Errorf("%w: a nick of %d bytes (at most %d)", ErrFormat, n, MaxNickLen)
		return nil
	}
	return r.bytes(n)
}

// rest returns what is left.
func (r *reader) rest() []byte {
	v := r.b
	r.b = nil
	return v
}

// end checks that nothing is left.
func (r *reader) end() {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d bytes left over", ErrFormat, len(r.b))
	}
}

// Decode parses b into p; p's byte slices alias b. Every length and count
// is checked: malformed input is an error, never a panic. Decode checks
// the structure only; what the fields mean (a valid nick, UTF-8 text) is
// for the receiver to check.
func Decode(b []byte, p *Packet) error {
	*p = Packet{}
	if len(b) > MaxPacket {
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrFormat, len(b), MaxPacket)
	}
	if !IsRoom(b) {
		if len(b) < seq.HeaderLen {
			return fmt.Errorf("%w: %d bytes", ErrShort, len(b))
		}
		return ErrNotRoom
	}
	h, body, _ := seq.Decode(b)
	p.Type, p.Seq, p.Sent = Type(h.Type), h.Seq, h.Sent
	r := reader{b: body}
	p.Session = r.u64()
	switch p.Type {
	case TypeHello:
		p.Nick = r.nick()
	case TypeChallenge:
		copy(p.Cookie[:], r.bytes(CookieLen))
	case TypeJoin:
		copy(p.Cookie[:], r.bytes(CookieLen))
		p.Nick = r.nick()
	case TypeWelcome:
		p.MaxText, p.Rate, p.Keepalive, p.Timeout = r.u16(), r.u16(), r.u32(), r.u32()
	case TypeRefuse:
		p.Code = r.u8()
		p.Text = r.rest()
	case TypeEvent:
		p.Kind = Kind(r.u8())
		switch p.Kind {
		case KindMessage:
			p.ID = r.u64()
			p.Nick = r.nick()
			p.Text = r.rest()
		case KindJoin:
			p.Nick = r.nick()
		case KindLeave:
			p.Code = r.u8()
			p.Nick = r.nick()
		case KindMembers:
			decodeMembers(&r, p)
		case KindMissed:
			p.Count = r.u64()
			p.Nick = r.nick()
		default:
			if r.err == nil {
				r.err = fmt.Errorf("%w: event kind %d", ErrFormat, p.Kind)
			}
		}
	case TypeAck:
		p.Bits = r.u64()
	case TypePing, TypeUnavailable:
	case TypeReset:
		p.Code = r.u8()
	case TypeAnnounce:
		p.Flags = r.u8()
		p.Low = r.u64()
		p.Nick = r.nick()
	case TypeData:
		p.Nick = r.nick()
		p.Text = r.rest()
	case TypeNack:
		p.Target = r.u64()
		n := int(r.u8())
		if r.err == nil && (n == 0 || n > MaxNackRanges) {
			r.err = fmt.Errorf("%w: %d NACK ranges (1 to %d)", ErrFormat, n, MaxNackRanges)
		}
		for i := 0; i < n && r.err == nil; i++ {
			rg := Range{r.u64(), r.u64()}
			if r.err == nil && (rg.Start == 0 || rg.Start >= rg.End) {
				r.err = fmt.Errorf("%w: NACK range [%d, %d)", ErrFormat, rg.Start, rg.End)
			}
			p.Ranges[i] = rg
		}
		if r.err == nil {
			p.NRanges = n
		}
	case TypeBye:
		p.Code = r.u8()
		p.Nick = r.nick()
	case TypeByeAck:
		p.Target = r.u64()
	case TypeConflict:
		p.Target = r.u64()
		p.Nick = r.nick()
	}
	r.end()
	if r.err != nil {
		if errors.Is(r.err, ErrShort) {
			return fmt.Errorf("%w: %s of %d bytes", ErrShort, p.Type, len(b))
		}
		return fmt.Errorf("%s: %w", p.Type, r.err)
	}
	return nil
}

func decodeMembers(r *reader, p *Packet) {
	more := r.u8()
	n := int(r.u8())
	if r.err != nil {
		return
	}
	if more > 1 {
		r.err = fmt.Errorf("%w: members flag %d", ErrFormat, more)
		return
	}
	p.More = more == 1
	start := r.b
	for range n {
		r.nick()
		if r.err != nil {
			return
		}
	}
	p.List = start[: len(start)-len(r.b) : len(start)-len(r.b)]
	p.NList = n
}
