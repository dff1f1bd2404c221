package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	"github.com/udpchat/udpchat/dgram/arq"
)

// RefusedError is the error of a transfer the receiver refused: its
// verdict says why.
type RefusedError struct{ Verdict Verdict }

func (e *RefusedError) Error() string {
	if e.Verdict.Reason != "" {
		return "the receiver refused the transfer: " + e.Verdict.Reason
	}
	return "the receiver refused the transfer (" + e.Verdict.Code + ")"
}

// ErrNoVerdict is the error of a transfer whose receiver gave no verdict:
// it closed the connection without one, or, once it had acknowledged
// everything, kept the connection alive without one for the
// connection's IdleTimeout.
var ErrNoVerdict = errors.New("transfer: the receiver gave no verdict")

// Sender sends one transfer over an arq connection: NewSender sends the
// header, Message or ReadFrom the payload, and Finish the checksum, and
// waits for the receiver's verdict. Only a verdict of "saved" (for
// messages, "saved" or "delivered") that counts the bytes and gives the
// SHA-256 that were sent is success. A Sender is not safe for concurrent use, but
// Acked may be called from another goroutine.
type Sender struct {
	c        *arq.Conn
	hdr      Header
	hlen     int
	h        hash.Hash
	bytes    int64
	messages uint64
	frame    []byte

	// For Acked, in a messages transfer: the messages not yet known to
	// be acknowledged, each with where it ends in the connection's
	// stream of message bytes, and the bytes of those known to be.
	mu      sync.Mutex
	stream  int64
	pending []pendingMsg
	acked   int64
}

// pendingMsg is a message sent and not yet known to be acknowledged.
type pendingMsg struct{ end, n int64 }

// maxPending is how many messages Message keeps for Acked before it
// drops those acknowledged.
const maxPending = 1024

// Sent is what a finished transfer did.
type Sent struct {
	Verdict  Verdict
	Bytes    int64  // payload bytes: the file's, or the messages' (without newlines)
	Messages uint64 // 'M' frames
	SHA256   [32]byte
	Stats    arq.Stats // the connection's counters at the end
}

// NewSender starts a transfer on c by sending its header.
func NewSender(c *arq.Conn, h Header) (*Sender, error) {
	if h.Kind == KindMessages {
		h.Name, h.Size = "", -1
	}
	s := &Sender{c: c, hdr: h, h: sha256.New()}
	s.frame = AppendHeader(s.frame[:0], h)
	s.hlen = len(s.frame)
	if _, err := ParseHeader(s.frame[1:]); err != nil {
		return nil, err
	}
	return s, s.send()
}

// send sends the frame in s.frame. When the connection fails because the
// receiver refused the transfer, the error is the refusal, with its
// verdict.
func (s *Sender) send() error {
	if err := s.c.Send(s.frame); err != nil {
		return s.refusal(err)
	}
	return nil
}

// refusal looks, after err ended the connection, for a verdict the
// receiver sent before it reset, or before it went silent (its RESET
// may have been lost): a refusal says why better than the end of the
// connection does.
func (s *Sender) refusal(err error) error {
	if s.c.Err() == nil {
		return err // the connection did not fail (an interruption): Recv would wait
	}
	if m, rerr := s.c.Recv(); rerr == nil && len(m) > 0 && m[0] == FrameVerdict {
		if v, perr := ParseVerdict(m[1:]); perr == nil && !v.OK() {
			return &RefusedError{Verdict: v}
		}
	}
	return err
}

// Message sends one message of a "messages" transfer.
func (s *Sender) Message(m []byte) error {
	if s.hdr.Kind != KindMessages {
		return errors.New("transfer: a message in a file transfer")
	}
	s.frame = append(append(s.frame[:0], FrameMessage), m...)
	s.h.Write(m)
	s.h.Write([]byte{'\n'})
	s.bytes += int64(len(m))
	s.messages++
	s.mu.Lock()
	s.stream += int64(len(s.frame))
	s.pending = append(s.pending, pendingMsg{end: s.stream, n: int64(len(m))})
	prune := len(s.pending) > maxPending
	s.mu.Unlock()
	if prune {
		s.Acked()
	}
	return s.send()
}

// ReadFrom sends r's bytes as the file of a "file" transfer, in chunks of
// ChunkSize, until EOF. It refuses to send more than the header's size.
func (s *Sender) ReadFrom(r io.Reader) (int64, error) {
	if s.hdr.Kind != KindFile {
		return 0, errors.New("transfer: file data in a messages transfer")
	}
	var n int64
	for {
		if cap(s.frame) < ChunkSize+1 {
			s.frame = make([]byte, 0, ChunkSize+1)
		}
		buf := s.frame[:ChunkSize+1]
		buf[0] = FrameData
		k, err := io.ReadFull(r, buf[1:])
		if k > 0 {
			if s.bytes+int64(k) > s.hdr.Size {
				return n, fmt.Errorf("transfer: the file grew past the %d bytes announced while it was read", s.hdr.Size)
			}
			s.frame = buf[:k+1]
			s.h.Write(s.frame[1:])
			s.bytes += int64(k)
			n += int64(k)
			if serr := s.send(); serr != nil {
				return n, serr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Acked returns how many payload bytes the receiver acknowledged so far
// (transport acknowledgements: received, not yet verified or saved), for
// a progress bar: the file's bytes, or the bytes of the messages
// acknowledged whole.
func (s *Sender) Acked() int64 {
	a := int64(s.c.Stats().BytesAcked) - int64(s.hlen)
	if a <= 0 {
		return 0
	}
	if s.hdr.Kind != KindFile {
		// whole messages: a message's bytes count once all of it is
		// acknowledged
		s.mu.Lock()
		defer s.mu.Unlock()
		i := 0
		for i < len(s.pending) && s.pending[i].end <= a {
			s.acked += s.pending[i].n
			i++
		}
		s.pending = append(s.pending[:0], s.pending[i:]...)
		return s.acked
	}
	k, rem := a/(ChunkSize+1), a%(ChunkSize+1)
	a = k*ChunkSize + max(rem-1, 0)
	return min(a, max(s.hdr.Size, 0))
}

// Bytes returns the payload bytes handed to the connection so far.
func (s *Sender) Bytes() int64 { return s.bytes }

// Finish sends the checksum, closes the sending side, waits for the
// receiver's verdict and closes the connection. It returns a
// *RefusedError when the receiver refused the transfer, ErrNoVerdict
// when it closed without answering or did not answer within the
// connection's IdleTimeout of acknowledging everything, an error that wraps ErrFormat when
// its verdict does not match the transfer (see Sender), and the
// connection's error when the connection failed. When ctx ends, the connection is aborted.
func (s *Sender) Finish(ctx context.Context) (*Sent, error) {
	stop := context.AfterFunc(ctx, s.c.Abort)
	defer stop()
	res := &Sent{Bytes: s.bytes, Messages: s.messages}
	copy(res.SHA256[:], s.h.Sum(nil))
	if s.hdr.Kind == KindFile && s.bytes != s.hdr.Size {
		s.c.Abort()
		return res, fmt.Errorf("transfer: the file changed while it was read: %d bytes announced, %d read", s.hdr.Size, s.bytes)
	}
	s.frame = append(append(s.frame[:0], FrameSum), res.SHA256[:]...)
	if err := s.send(); err != nil {
		return res, err
	}
	if err := s.c.CloseWrite(); err != nil {
		return res, s.refusal(err)
	}
	// Once everything is acknowledged, the verdict is due: a receiver
	// that keeps the connection alive (keepalives answered) and never
	// gives one must not hold the sender forever. It has the idle
	// timeout, counted from the last data that moved, to answer.
	if err := s.c.Flush(ctx); err != nil {
		return res, s.refusal(err)
	}
	idle := s.c.IdleTimeout()
	s.c.SetStallTimeout(idle)
	m, err := s.c.Recv()
	if err == io.EOF {
		s.c.Abort()
		return res, fmt.Errorf("%w: it closed the connection without one", ErrNoVerdict)
	}
	if errors.Is(err, arq.ErrStalled) {
		return res, fmt.Errorf("%w within %v of acknowledging everything", ErrNoVerdict, idle)
	}
	if err != nil {
		return res, s.refusal(err)
	}
	if len(m) == 0 || m[0] != FrameVerdict {
		s.c.Abort()
		return res, fmt.Errorf("%w: the receiver answered with frame %q, not a verdict", ErrFormat, m[0:min(len(m), 1)])
	}
	v, err := ParseVerdict(m[1:])
	if err != nil {
		s.c.Abort()
		return res, err
	}
	res.Verdict = v
	if v.OK() {
		if err := s.check(v, res.SHA256); err != nil {
			s.c.Abort()
			return res, err
		}
	}
	// The verdict is what counts; the end of the connection is courtesy.
	_ = s.c.Close()
	res.Stats = s.c.Stats()
	if !v.OK() {
		return res, &RefusedError{Verdict: v}
	}
	return res, nil
}

// check tells whether a verdict of success is about this transfer: a
// file must be "saved" ("delivered" says that it was not kept), and the
// receiver must count the bytes and give the SHA-256 that were sent.
// A verdict that does not is no success, whatever its status says.
func (s *Sender) check(v Verdict, sum [32]byte) error {
	switch {
	case s.hdr.Kind == KindFile && v.Status != StatusSaved:
		return formatErr("the receiver answered %q for a file, which only %q would have kept", v.Status, StatusSaved)
	case v.Bytes != s.bytes:
		return formatErr("the receiver's verdict counts %d bytes, %d were sent", v.Bytes, s.bytes)
	case !strings.EqualFold(v.SHA256, hex.EncodeToString(sum[:])):
		return formatErr("the receiver's verdict gives the SHA-256 %q, what was sent hashes to %x", v.SHA256, sum)
	}
	return nil
}
