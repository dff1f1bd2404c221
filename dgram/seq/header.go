package seq

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header layout constants (version 1).
const (
	// HeaderLen is the size of the v1 header in bytes.
	HeaderLen = 20
	// Version is the header version this package writes and reads.
	Version = 1
	// Magic0 and Magic1 are the first two bytes of every header: "dg".
	Magic0, Magic1 = 'd', 'g'
)

// Type is the header's type field. Only TypeData is defined here; other
// values are reserved for dgram/arq and authentication.
type Type uint8

// Known header types.
const (
	// TypeData is a plain numbered datagram.
	TypeData Type = 0
)

// Decode errors. Decode returns them wrapped in a *DecodeError, so callers
// can use errors.Is(err, seq.ErrShort) or read the details.
var (
	// ErrShort: fewer than HeaderLen bytes.
	ErrShort = errors.New("seq: short header")
	// ErrMagic: the first two bytes are not "dg".
	ErrMagic = errors.New("seq: bad magic")
	// ErrVersion: a version this package does not read.
	ErrVersion = errors.New("seq: unknown version")
	// ErrType: a valid header of a type the receiver does not handle.
	ErrType = errors.New("seq: unknown type")
)

// DecodeError describes a malformed datagram: why it was rejected and
// what was seen.
type DecodeError struct {
	Err  error // ErrShort, ErrMagic, ErrVersion or ErrType
	Len  int   // the datagram's length
	Got  uint8 // ErrVersion: the version byte; ErrType: the type byte
	Want uint8 // ErrVersion: Version
}

// Error implements error.
func (e *DecodeError) Error() string {
	switch e.Err {
	case ErrShort:
		return fmt.Sprintf("seq: short header: %d of %d bytes", e.Len, HeaderLen)
	case ErrVersion:
		return fmt.Sprintf("seq: unknown version %d (this reads version %d)", e.Got, e.Want)
	case ErrType:
		return fmt.Sprintf("seq: unknown type %d", e.Got)
	}
	return e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

// Cause returns a short phrase for the reason, as shown to users and in
// JSON ("short", "bad magic", "unknown version", "unknown type").
func (e *DecodeError) Cause() string {
	switch e.Err {
	case ErrShort:
		return "short"
	case ErrMagic:
		return "bad magic"
	case ErrVersion:
		return "unknown version"
	case ErrType:
		return "unknown type"
	}
	return "malformed"
}

// Header is the v1 sequence header.
type Header struct {
	Type Type   // TypeData for numbered datagrams
	Seq  uint64 // per-sender counter; a sender's first datagram is 0
	Sent int64  // the sender's clock at sending, Unix nanoseconds (0: unknown)
}

// Append appends the 20-byte encoding of h to b and returns the extended
// slice. It allocates only if b lacks the capacity.
func (h Header) Append(b []byte) []byte {
	b = append(b, Magic0, Magic1, Version, byte(h.Type))
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	return binary.BigEndian.AppendUint64(b, uint64(h.Sent))
}

// Put writes h into the first HeaderLen bytes of b, which must be at least
// that long.
func (h Header) Put(b []byte) {
	_ = b[HeaderLen-1]
	b[0], b[1], b[2], b[3] = Magic0, Magic1, Version, byte(h.Type)
	binary.BigEndian.PutUint64(b[4:12], h.Seq)
	binary.BigEndian.PutUint64(b[12:20], uint64(h.Sent))
}

// Decode parses the header at the start of b and returns it with the
// payload that follows, which aliases b (nothing is copied). It checks the
// length, magic and version, not the type: any type decodes, and the
// caller decides which it handles. Malformed input returns a *DecodeError.
func Decode(b []byte) (Header, []byte, error) {
	h, payload, bad := parse(b)
	if bad != nil {
		return Header{}, nil, decodeError(bad, b)
	}
	return h, payload, nil
}

// parse is Decode without the error value: bad is the sentinel, nil for
// a valid header. It never allocates.
func parse(b []byte) (h Header, payload []byte, bad error) {
	if len(b) < HeaderLen {
		return Header{}, nil, ErrShort
	}
	if b[0] != Magic0 || b[1] != Magic1 {
		return Header{}, nil, ErrMagic
	}
	if b[2] != Version {
		return Header{}, nil, ErrVersion
	}
	h = Header{
		Type: Type(b[3]),
		Seq:  binary.BigEndian.Uint64(b[4:12]),
		Sent: int64(binary.BigEndian.Uint64(b[12:20])),
	}
	return h, b[HeaderLen:], nil
}

// decodeError builds the *DecodeError for sentinel bad seen in b.
func decodeError(bad error, b []byte) *DecodeError {
	e := &DecodeError{Err: bad, Len: len(b)}
	switch bad {
	case ErrVersion:
		e.Got, e.Want = b[2], Version
	case ErrType:
		e.Got = b[3]
	}
	return e
}
