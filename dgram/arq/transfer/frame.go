package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Frame types: the first byte of every arq message of a transfer.
const (
	FrameHeader  = 'H'
	FrameMessage = 'M'
	FrameData    = 'D'
	FrameSum     = 'S'
	FrameVerdict = 'V'
)

// Kinds of transfer.
const (
	KindFile     = "file"
	KindMessages = "messages"
)

// ChunkSize is the most file bytes one 'D' frame carries.
const ChunkSize = 64 << 10

// MaxNameLen bounds a file name in a header, in bytes.
const MaxNameLen = 255

// maxJSON bounds a header's or a verdict's JSON.
const maxJSON = 4096

// Header is a transfer's first frame.
type Header struct {
	Kind string // KindFile or KindMessages
	Name string // a file's name (the sender's base name)
	Size int64  // a file's size in bytes; -1 for messages
}

type headerJSON struct {
	Udpchat int    `json:"udpchat"`
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
	Size    int64  `json:"size"`
}

// ErrFormat is the error of a frame, header or verdict that does not
// follow the protocol.
var ErrFormat = errors.New("transfer: malformed")

// FrameError is a frame that breaks the protocol; Code is the refusal
// code a receiver answers it with (CodeProtocol, or CodeSize for a file
// longer than its header said).
type FrameError struct {
	Code string
	Msg  string
}

func (e *FrameError) Error() string { return "transfer: malformed: " + e.Msg }

// Is matches ErrFormat.
func (e *FrameError) Is(target error) bool { return target == ErrFormat }

func formatErr(format string, args ...any) error {
	return &FrameError{Code: CodeProtocol, Msg: fmt.Sprintf(format, args...)}
}

// AppendHeader appends h's frame to b.
func AppendHeader(b []byte, h Header) []byte {
	j, _ := json.Marshal(headerJSON{Udpchat: 1, Kind: h.Kind, Name: h.Name, Size: h.Size})
	return append(append(b, FrameHeader), j...)
}

// ParseHeader parses the body of an 'H' frame (after the type byte).
func ParseHeader(body []byte) (Header, error) {
	if len(body) > maxJSON {
		return Header{}, formatErr("a header of %d bytes", len(body))
	}
	var j headerJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil || dec.More() {
		return Header{}, formatErr("the header is not the expected JSON")
	}
	if j.Udpchat != 1 {
		return Header{}, formatErr("transfer version %d, want 1", j.Udpchat)
	}
	h := Header{Kind: j.Kind, Name: j.Name, Size: j.Size}
	switch h.Kind {
	case KindFile:
		if h.Size < 0 {
			return Header{}, formatErr("a file of %d bytes", h.Size)
		}
	case KindMessages:
		if h.Size != -1 || h.Name != "" {
			return Header{}, formatErr("a messages header with a name or a size")
		}
	default:
		return Header{}, formatErr("unknown kind %q", h.Kind)
	}
	if len(h.Name) > MaxNameLen || !utf8.ValidString(h.Name) {
		return Header{}, formatErr("a file name of %d bytes, or not UTF-8", len(h.Name))
	}
	return h, nil
}

// SafeName reduces a sender's file name to a base name that can be
// created inside a directory: the part after the last '/' or '\', which
// must not be empty, "." or "..", nor hold control characters. It
// returns "" when nothing safe is left.
func SafeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name == "" || name == "." || name == ".." || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return ""
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ""
		}
	}
	return name
}

// Verdict statuses.
const (
	StatusSaved     = "saved"     // the bytes are on disk under Name
	StatusDelivered = "delivered" // messages were verified and handed to the application
	StatusRefused   = "refused"   // Code and Reason say why not
)

// Refusal codes.
const (
	CodeChecksum  = "checksum"  // the SHA-256 did not match
	CodeSize      = "size"      // a file's size differs from its header's
	CodeExists    = "exists"    // the file exists, and the receiver does not overwrite
	CodeName      = "name"      // no safe file name in the header
	CodeIO        = "io"        // the receiver could not write or rename the file
	CodeBusy      = "busy"      // the receiver is busy with another transfer
	CodeNotSaved  = "not-saved" // a file was verified but the receiver saves no files
	CodeProtocol  = "protocol"  // the frames broke the protocol
	CodeCancelled = "cancelled" // the receiver was stopped
)

// Verdict is the receiver's answer to a transfer.
type Verdict struct {
	Status string `json:"status"`
	Name   string `json:"name,omitempty"` // saved: the file's name (as the receiver shows it)
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256,omitempty"` // of what arrived, in hex
	Code   string `json:"code,omitempty"`   // refused: why
	Reason string `json:"reason,omitempty"` // refused: why, in words
}

// OK reports whether the transfer succeeded: saved, or delivered.
func (v Verdict) OK() bool { return v.Status == StatusSaved || v.Status == StatusDelivered }

// AppendVerdict appends v's frame to b.
func AppendVerdict(b []byte, v Verdict) []byte {
	j, _ := json.Marshal(v)
	return append(append(b, FrameVerdict), j...)
}

// ParseVerdict parses the body of a 'V' frame.
func ParseVerdict(body []byte) (Verdict, error) {
	if len(body) > maxJSON {
		return Verdict{}, formatErr("a verdict of %d bytes", len(body))
	}
	var v Verdict
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return Verdict{}, formatErr("the verdict is not the expected JSON")
	}
	switch v.Status {
	case StatusSaved, StatusDelivered:
	case StatusRefused:
		if v.Code == "" {
			return Verdict{}, formatErr("a refusal without a code")
		}
	default:
		return Verdict{}, formatErr("unknown status %q", v.Status)
	}
	if v.Bytes < 0 {
		return Verdict{}, formatErr("%d bytes", v.Bytes)
	}
	return v, nil
}

// Checker follows a transfer frame by frame on the receiving side, with
// no I/O: it checks the order (header first, checksum last, frames of the
// header's kind), counts and hashes the payload, and at the end says
// whether the checksum and the declared size hold. Receive uses one;
// anyone reading the protocol's frames from another source can too.
type Checker struct {
	hdr      Header
	hasHdr   bool
	h        hash.Hash
	sum      []byte
	bytes    int64
	messages uint64
}

// NewChecker returns a Checker at the start of a transfer.
func NewChecker() *Checker { return &Checker{h: sha256.New()} }

// Header returns the transfer's header, once it arrived.
func (c *Checker) Header() (Header, bool) { return c.hdr, c.hasHdr }

// Bytes returns the payload bytes so far (file bytes, or message bytes
// without their newlines).
func (c *Checker) Bytes() int64 { return c.bytes }

// Messages returns the number of 'M' frames so far.
func (c *Checker) Messages() uint64 { return c.messages }

// Feed takes the next frame. It returns the frame's type and its payload
// (for 'M' and 'D', what the application gets), or an error that wraps
// ErrFormat when the frame breaks the protocol.
func (c *Checker) Feed(frame []byte) (typ byte, payload []byte, err error) {
	if len(frame) == 0 {
		return 0, nil, formatErr("an empty frame")
	}
	typ, body := frame[0], frame[1:]
	if c.sum != nil {
		return typ, nil, formatErr("a frame after the checksum")
	}
	if !c.hasHdr {
		if typ != FrameHeader {
			return typ, nil, formatErr("the first frame is %q, not a header", typ)
		}
		if c.hdr, err = ParseHeader(body); err != nil {
			return typ, nil, err
		}
		c.hasHdr = true
		return typ, nil, nil
	}
	switch typ {
	case FrameMessage:
		if c.hdr.Kind != KindMessages {
			return typ, nil, formatErr("a message in a file transfer")
		}
		c.h.Write(body)
		c.h.Write([]byte{'\n'})
		c.bytes += int64(len(body))
		c.messages++
		return typ, body, nil
	case FrameData:
		if c.hdr.Kind != KindFile {
			return typ, nil, formatErr("file data in a messages transfer")
		}
		if len(body) > ChunkSize {
			return typ, nil, formatErr("a chunk of %d bytes", len(body))
		}
		if c.bytes > c.hdr.Size-int64(len(body)) {
			return typ, nil, &FrameError{Code: CodeSize, Msg: fmt.Sprintf("more than the %d bytes the header declared", c.hdr.Size)}
		}
		c.h.Write(body)
		c.bytes += int64(len(body))
		return typ, body, nil
	case FrameSum:
		if len(body) != sha256.Size {
			return typ, nil, formatErr("a checksum of %d bytes", len(body))
		}
		c.sum = append([]byte(nil), body...)
		return typ, nil, nil
	case FrameHeader:
		return typ, nil, formatErr("a second header")
	}
	return typ, nil, formatErr("unknown frame %q", typ)
}

// Check is the end of a transfer, as a Checker saw it.
type Check struct {
	SHA256 [32]byte // of what arrived
	Code   string   // "" when it holds; CodeChecksum, CodeSize or CodeProtocol
	Reason string
}

// End checks a transfer whose sender closed: the checksum came, matches,
// and a file has the size its header declared.
func (c *Checker) End() Check {
	var r Check
	copy(r.SHA256[:], c.h.Sum(nil))
	switch {
	case !c.hasHdr:
		r.Code, r.Reason = CodeProtocol, "the transfer ended before its header"
	case c.sum == nil:
		r.Code, r.Reason = CodeProtocol, "the transfer ended without its SHA-256"
	case !bytes.Equal(c.sum, r.SHA256[:]):
		r.Code, r.Reason = CodeChecksum, fmt.Sprintf("SHA-256 mismatch: the sender says %x, the bytes received hash to %x", c.sum, r.SHA256)
	case c.hdr.Kind == KindFile && c.bytes != c.hdr.Size:
		r.Code, r.Reason = CodeSize, fmt.Sprintf("the header declared %d bytes, %d arrived", c.hdr.Size, c.bytes)
	}
	return r
}
