package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

// Format constants.
const (
	// Type is the v1 header type of a sealed datagram.
	Type = 2
	// SessionLen is the size of the session ID.
	SessionLen = 8
	// HeaderLen is the readable part: the v1 header and the session ID.
	HeaderLen = seq.HeaderLen + SessionLen
	// TagLen is the size of the GCM tag.
	TagLen = 16
	// Overhead is what sealing adds to a datagram.
	Overhead = HeaderLen + TagLen
)

func putUint64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }

// nonce returns the GCM nonce of seq n.
func nonce(n uint64) (b [12]byte) {
	putUint64(b[4:], n)
	return b
}

// ErrExhausted is returned by Seal when a session has used every seq it
// may: 0 to 2^64-2 (2^64-1 is never used, so that a receiver's window
// never wraps). Start a new Sealer: a new session, a new key.
var ErrExhausted = errors.New("seal: session exhausted its sequence numbers")

// MaxSeq is the last seq a session uses.
const MaxSeq = math.MaxUint64 - 1

// Sealer seals datagrams for one sender session. It is safe for concurrent
// use.
type Sealer struct {
	session uint64
	aead    cipher.AEAD

	mu    sync.Mutex
	next  uint64
	nonce [12]byte
}

// NewSealer starts a session with a random ID.
func (k *Key) NewSealer() (*Sealer, error) {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return k.NewSealerID(binary.BigEndian.Uint64(id[:]))
}

// NewSealerID starts a session with a chosen ID. Tests use it; two sealers
// with the same ID and key must never both be used, or nonces repeat.
func (k *Key) NewSealerID(session uint64) (*Sealer, error) {
	a, err := k.aead(session)
	if err != nil {
		return nil, err
	}
	return &Sealer{session: session, aead: a}, nil
}

// Session returns the session ID.
func (s *Sealer) Session() uint64 { return s.session }

// Seal appends the sealed form of plaintext to dst and returns it; it
// stamps the header with now. dst and plaintext must not overlap.
func (s *Sealer) Seal(dst, plaintext []byte, now time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next
	if n > MaxSeq {
		return dst, ErrExhausted
	}
	s.next++
	start := len(dst)
	dst = seq.Header{Type: Type, Seq: n, Sent: now.UnixNano()}.Append(dst)
	dst = binary.BigEndian.AppendUint64(dst, s.session)
	s.nonce = nonce(n)
	return s.aead.Seal(dst, s.nonce[:], plaintext, dst[start:]), nil
}

// Header is the readable part of a sealed datagram.
type Header struct {
	Seq     uint64
	Sent    int64
	Session uint64
}

// ParseHeader reads the readable part of a sealed datagram; ok is false
// when b is not one (too short to hold a tag, another magic, version or
// type, or seq 2^64-1, which no Sealer uses).
func ParseHeader(b []byte) (h Header, ok bool) {
	if len(b) < Overhead {
		return Header{}, false
	}
	sh, _, err := seq.Decode(b)
	if err != nil || sh.Type != Type || sh.Seq > MaxSeq {
		return Header{}, false
	}
	return Header{Seq: sh.Seq, Sent: sh.Sent, Session: binary.BigEndian.Uint64(b[seq.HeaderLen:HeaderLen])}, true
}
