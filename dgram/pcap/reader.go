package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// MaxBlock bounds the size of one pcapng block a Reader accepts; larger
// blocks are an error, so a hostile file cannot make it allocate much.
const MaxBlock = 1 << 20

// maxInterfaces bounds the interfaces of one section a Reader remembers.
const maxInterfaces = 1024

// Record is one packet read from a capture.
type Record struct {
	// Time is the packet's timestamp.
	Time time.Time
	// Interface is its capture interface's index in the section.
	Interface int
	// LinkType is that interface's link type (LinkTypeRaw for ours).
	LinkType uint16
	// Dir is the direction from epb_flags, when present.
	Dir Direction
	// Comment is the packet's first comment, if any.
	Comment string
	// Data is the captured bytes (an IP packet for LinkTypeRaw). It
	// aliases the Reader's buffer until the next call of Next.
	Data []byte
	// OrigLen is the packet's length on the wire (more than len(Data)
	// when the capture was cut at the snapshot length).
	OrigLen int
}

type ifaceInfo struct {
	linkType uint16
	unit     float64 // seconds per timestamp unit
	pow10    int     // >= 0: the unit is 10^-pow10 s (exact integer math)
}

// Reader reads the packets of a pcapng stream: section headers in either
// byte order, interface descriptions (link type, timestamp resolution),
// enhanced and simple packet blocks; other blocks are skipped. Its memory
// is bounded by MaxBlock. It exists so tests and tools can check captures
// without Wireshark; it is not a general pcapng library.
type Reader struct {
	br     *bufio.Reader
	order  binary.ByteOrder
	ifaces []ifaceInfo
	buf    []byte
	hdr    [8]byte
}

// NewReader reads the first section header block from r.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 64<<10)}
	typ, body, err := rd.block()
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: empty file", ErrMalformed)
		}
		return nil, err
	}
	if typ != blockSHB {
		return nil, fmt.Errorf("%w: not pcapng (first block type %#x)", ErrMalformed, typ)
	}
	if len(body) < 16 {
		return nil, errFormat("short section header")
	}
	if major := rd.order.Uint16(body[4:]); major != 1 {
		return nil, errFormat("pcapng version %d", major)
	}
	return rd, nil
}

// errFormat makes a malformed-file error.
func errFormat(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// block reads one block and returns its type and body (between the
// leading length and the trailing one). A section header block sets the
// byte order and forgets the interfaces of the previous section.
func (r *Reader) block() (uint32, []byte, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, nil, errFormat("truncated block header")
		}
		return 0, nil, err
	}
	if binary.LittleEndian.Uint32(r.hdr[:]) == blockSHB {
		// The byte order is in the body's first word.
		magic, err := r.br.Peek(4)
		if err != nil {
			return 0, nil, errFormat("truncated section header")
		}
		switch {
		case binary.LittleEndian.Uint32(magic) == byteOrderMagic:
			r.order = binary.LittleEndian
		case binary.BigEndian.Uint32(magic) == byteOrderMagic:
			r.order = binary.BigEndian
		default:
			return 0, nil, errFormat("bad byte-order magic %x", magic)
		}
		r.ifaces = r.ifaces[:0]
	} else if r.order == nil {
		return 0, nil, errFormat("no section header")
	}
	typ := r.order.Uint32(r.hdr[:])
	n := r.order.Uint32(r.hdr[4:])
	if n < 12 || n%4 != 0 || n > MaxBlock {
		return 0, nil, errFormat("block of type %#x has length %d", typ, n)
	}
	body := int(n) - 12
	if cap(r.buf) < body+4 {
		r.buf = make([]byte, body+4)
	}
	b := r.buf[:body+4]
	if _, err := io.ReadFull(r.br, b); err != nil {
		return 0, nil, errFormat("truncated block of type %#x", typ)
	}
	if r.order.Uint32(b[body:]) != n {
		return 0, nil, errFormat("block of type %#x: trailing length %d, leading %d", typ, r.order.Uint32(b[body:]), n)
	}
	return typ, b[:body], nil
}

// Next returns the next packet, or io.EOF at the end of the stream.
func (r *Reader) Next() (Record, error) {
	for {
		typ, body, err := r.block()
		if err != nil {
			return Record{}, err
		}
		switch typ {
		case blockSHB:
			if len(body) < 16 {
				return Record{}, errFormat("short section header")
			}
			if major := r.order.Uint16(body[4:]); major != 1 {
				return Record{}, errFormat("pcapng version %d", major)
			}
		case blockIDB:
			if err := r.idb(body); err != nil {
				return Record{}, err
			}
		case blockEPB:
			return r.epb(body)
		case 3: // simple packet block: interface 0, no timestamp
			if len(r.ifaces) == 0 || len(body) < 4 {
				return Record{}, errFormat("simple packet block without an interface")
			}
			orig := int(r.order.Uint32(body))
			data := body[4:]
			if orig < len(data) {
				data = data[:orig]
			}
			return Record{LinkType: r.ifaces[0].linkType, Data: data, OrigLen: orig}, nil
		}
	}
}

func (r *Reader) idb(body []byte) error {
	if len(body) < 8 {
		return errFormat("short interface description")
	}
	if len(r.ifaces) >= maxInterfaces {
		return errFormat("more than %d interfaces", maxInterfaces)
	}
	info := ifaceInfo{linkType: r.order.Uint16(body), unit: 1e-6, pow10: 6}
	err := r.options(body[8:], func(code uint16, v []byte) {
		if code == ifTSResol && len(v) >= 1 {
			if v[0]&0x80 == 0 {
				info.pow10 = int(v[0])
				info.unit = math.Pow10(-int(v[0]))
			} else {
				info.pow10 = -1
				info.unit = math.Pow(2, -float64(v[0]&0x7f))
			}
		}
	})
	if err != nil {
		return err
	}
	r.ifaces = append(r.ifaces, info)
	return nil
}

func (r *Reader) epb(body []byte) (Record, error) {
	if len(body) < 20 {
		return Record{}, errFormat("short packet block")
	}
	id := r.order.Uint32(body)
	if int64(id) >= int64(len(r.ifaces)) {
		return Record{}, errFormat("packet on interface %d, of %d described", id, len(r.ifaces))
	}
	info := r.ifaces[id]
	ts := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
	capLen := int(r.order.Uint32(body[12:]))
	orig := int(r.order.Uint32(body[16:]))
	rest := body[20:]
	if capLen < 0 || capLen > len(rest) {
		return Record{}, errFormat("captured length %d in a block of %d bytes", capLen, len(rest))
	}
	rec := Record{Interface: int(id), LinkType: info.linkType, Data: rest[:capLen], OrigLen: orig, Time: stamp(ts, info)}
	padded := (capLen + 3) &^ 3
	if padded > len(rest) {
		padded = len(rest)
	}
	err := r.options(rest[padded:], func(code uint16, v []byte) {
		switch code {
		case optComment:
			if rec.Comment == "" {
				rec.Comment = string(v)
			}
		case epbFlags:
			if len(v) >= 4 {
				rec.Dir = Direction(r.order.Uint32(v) & 3)
				if rec.Dir > Out {
					rec.Dir = DirUnknown
				}
			}
		}
	})
	return rec, err
}

// stamp converts a timestamp in the interface's units to a time.
func stamp(ts uint64, info ifaceInfo) time.Time {
	switch {
	case info.pow10 >= 0 && info.pow10 <= 9:
		mul := uint64(1)
		for range 9 - info.pow10 {
			mul *= 10
		}
		if ts <= math.MaxInt64/mul {
			return time.Unix(0, int64(ts*mul))
		}
	case info.pow10 > 9 && info.pow10 < 20:
		div := uint64(1)
		for range info.pow10 - 9 {
			div *= 10
		}
		return time.Unix(0, int64(ts/div))
	}
	secs := float64(ts) * info.unit
	if secs > float64(math.MaxInt64)/1e9 {
		return time.Unix(0, math.MaxInt64)
	}
	return time.Unix(0, int64(secs*1e9))
}

// options walks a block's options until opt_endofopt or the end.
func (r *Reader) options(b []byte, f func(code uint16, v []byte)) error {
	for len(b) >= 4 {
		code, n := r.order.Uint16(b), int(r.order.Uint16(b[2:]))
		if code == optEnd {
			return nil
		}
		b = b[4:]
		if n > len(b) {
			return errFormat("option %d of %d bytes in %d", code, n, len(b))
		}
		f(code, b[:n])
		b = b[min((n+3)&^3, len(b)):]
	}
	return nil
}

// ReadAll reads every packet of a capture into memory, copying each
// Record's data; for tests and small captures.
func ReadAll(r io.Reader) ([]Record, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	var out []Record
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec.Data = append([]byte(nil), rec.Data...)
		out = append(out, rec)
	}
}
