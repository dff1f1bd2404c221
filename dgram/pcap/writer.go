package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	byteOrderMagic = 0x1A2B3C4D

	optEnd     = 0
	optComment = 1
	shbOS      = 3
	shbApp     = 4
	ifName     = 2
	ifDesc     = 3
	ifTSResol  = 9
	epbFlags   = 2
)

// LinkTypeRaw is LINKTYPE_RAW: each packet starts with its IPv4 or IPv6
// header, no link-layer header.
const LinkTypeRaw = 101

// SnapLen is the snapshot length the writer announces: every packet whole
// (the largest IP packet is 65535 bytes, more with IPv6 jumbograms).
const SnapLen = 262144

// MaxComment bounds a packet or section comment, in bytes; longer ones are
// cut at a character boundary and end with "...".
const MaxComment = 1024

// flushAfter is how long, in the packets' own time, data may wait in the
// writer's buffer: a packet written more than this after the last flush
// flushes the buffer, so a capture being read while it grows lags little.
const flushAfter = time.Second

// Direction says whether the capturing program sent or received a packet
// (pcapng's epb_flags direction bits).
type Direction uint8

// Directions.
const (
	DirUnknown Direction = iota
	In                   // received
	Out                  // sent
)

// String returns "in", "out" or "unknown".
func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	}
	return "unknown"
}

// Interface describes one capture interface of a file: a socket, or one
// side of a relay. Wireshark shows its name and description in the
// frame's details ("Interface id: 0 (listen 127.0.0.1:9000)").
type Interface struct {
	Name        string
	Description string
}

// Options configure a Writer. The zero value works: one interface named
// "udpchat", application "udpchat".
type Options struct {
	// Application names the program that wrote the file (shb_userappl).
	Application string
	// Comment is the section's comment, shown in Wireshark's capture
	// file properties (say, the command line).
	Comment string
	// Interfaces are the capture interfaces, in order: a Packet's
	// Interface indexes them. Default: one, named "udpchat".
	Interfaces []Interface
}

// Packet is one UDP datagram to record.
type Packet struct {
	// Time is when it was sent or received (recorded in nanoseconds).
	Time time.Time
	// Src and Dst are the datagram's addresses and ports. IPv4-mapped
	// IPv6 addresses are written as IPv4; an unspecified address takes the
	// other's family (see Families).
	Src, Dst netip.AddrPort
	// Payload is the UDP payload.
	Payload []byte
	// Dir says whether the capturing program sent or received it.
	Dir Direction
	// Interface is the index of the capture interface in Options.Interfaces.
	Interface int
	// TTL is the IPv4 TTL or IPv6 hop limit written in the header (0:
	// DefaultTTL). A received datagram's real TTL is known only when the
	// socket asked for it (IP_RECVTTL).
	TTL uint8
	// DF sets the IPv4 don't-fragment flag.
	DF bool
	// Comment is shown with the packet in Wireshark (pcapng opt_comment);
	// at most MaxComment bytes are kept.
	Comment string
}

// Writer writes a capture in pcapng format with LINKTYPE_RAW and
// nanosecond timestamps: every UDP datagram gets a synthesized IPv4 or
// IPv6 header and a UDP header, with correct lengths and checksums, so
// that Wireshark and tshark decode, filter and follow them as if captured
// on the wire. A Writer is safe for concurrent use. Its memory is bounded:
// a 64 KiB output buffer and one packet's worth of scratch space, whatever
// is written.
type Writer struct {
	mu        sync.Mutex
	bw        *bufio.Writer
	closer    io.Closer // the file Create opened, or nil
	ifaces    int
	buf       []byte // the block being built
	pkt       []byte // the packet being built
	id        uint16
	packets   uint64
	bytes     uint64
	lastFlush time.Time
	err       error
	closed    bool
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("pcap: writer closed")

// NewWriter writes the section header and interface blocks to w and
// returns a Writer. The caller owns w: Close flushes but does not close it.
func NewWriter(w io.Writer, o Options) (*Writer, error) {
	if len(o.Interfaces) == 0 {
		o.Interfaces = []Interface{{Name: "udpchat"}}
	}
	if o.Application == "" {
		o.Application = "udpchat"
	}
	wr := &Writer{bw: bufio.NewWriterSize(w, 64<<10), ifaces: len(o.Interfaces)}
	b := wr.buf[:0]
	// Section header block.
	b, at := beginBlock(b, blockSHB)
	b = binary.LittleEndian.AppendUint32(b, byteOrderMagic)
	b = binary.LittleEndian.AppendUint16(b, 1) // major
	b = binary.LittleEndian.AppendUint16(b, 0) // minor
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0))
	if o.Comment != "" {
		b = appendOption(b, optComment, []byte(clip(o.Comment)))
	}
	b = appendOption(b, shbOS, []byte(runtime.GOOS))
	b = appendOption(b, shbApp, []byte(clip(o.Application)))
	b = appendOption(b, optEnd, nil)
	b = endBlock(b, at)
	for _, ifc := range o.Interfaces {
		b, at = beginBlock(b, blockIDB)
		b = binary.LittleEndian.AppendUint16(b, LinkTypeRaw)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint32(b, SnapLen)
		if ifc.Name != "" {
			b = appendOption(b, ifName, []byte(clip(ifc.Name)))
		}
		if ifc.Description != "" {
			b = appendOption(b, ifDesc, []byte(clip(ifc.Description)))
		}
		b = appendOption(b, ifTSResol, []byte{9}) // 10^-9 s
		b = appendOption(b, optEnd, nil)
		b = endBlock(b, at)
	}
	if _, err := wr.bw.Write(b); err != nil {
		return nil, err
	}
	wr.buf = b[:0]
	return wr, nil
}

// Create creates (or truncates) the file at path and returns a Writer on
// it; Close flushes and closes the file.
func Create(path string, o Options) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w, err := NewWriter(f, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.closer = f
	return w, nil
}

// WriteUDP records one UDP datagram. It fails for a datagram no IP packet
// can carry (ErrFamily, ErrTooLong), an unknown interface, after Close, and
// after a write to the file failed (the first such error is returned from
// then on).
func (w *Writer) WriteUDP(p *Packet) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(p.Interface); err != nil {
		return err
	}
	w.id++
	pkt, err := AppendUDP(w.pkt[:0], p.Src, p.Dst, p.Payload, IPOptions{TTL: p.TTL, ID: w.id, DF: p.DF})
	if err != nil {
		return err
	}
	w.pkt = pkt
	return w.writeEPB(p.Time, pkt, p.Interface, p.Dir, p.Comment)
}

// WriteIP records one IP packet as it is (an IPv4 fragment, say): ip must
// start with an IPv4 or IPv6 header.
func (w *Writer) WriteIP(t time.Time, ip []byte, iface int, dir Direction, comment string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(iface); err != nil {
		return err
	}
	if len(ip) == 0 || (ip[0]>>4 != 4 && ip[0]>>4 != 6) {
		return fmt.Errorf("%w: not an IPv4 or IPv6 packet", ErrMalformed)
	}
	if len(ip) > SnapLen {
		return fmt.Errorf("%w: %d bytes", ErrTooLong, len(ip))
	}
	return w.writeEPB(t, ip, iface, dir, comment)
}

func (w *Writer) usable(iface int) error {
	switch {
	case w.closed:
		return ErrClosed
	case w.err != nil:
		return w.err
	case iface < 0 || iface >= w.ifaces:
		return fmt.Errorf("pcap: interface %d does not exist (the file has %d)", iface, w.ifaces)
	}
	return nil
}

func (w *Writer) writeEPB(t time.Time, pkt []byte, iface int, dir Direction, comment string) error {
	ts := uint64(t.UnixNano())
	b, at := beginBlock(w.buf[:0], blockEPB)
	b = binary.LittleEndian.AppendUint32(b, uint32(iface))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
	b = append(b, pkt...)
	b = pad4(b)
	if comment != "" {
		b = appendOption(b, optComment, []byte(clip(comment)))
	}
	if dir != DirUnknown {
		b = appendOption(b, epbFlags, binary.LittleEndian.AppendUint32(nil, uint32(dir)))
	}
	if comment != "" || dir != DirUnknown {
		b = appendOption(b, optEnd, nil)
	}
	b = endBlock(b, at)
	w.buf = b
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("pcap: %w", err)
		return w.err
	}
	w.packets++
	w.bytes += uint64(len(pkt))
	if t.Sub(w.lastFlush) > flushAfter || t.Before(w.lastFlush) {
		w.lastFlush = t
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("pcap: %w", err)
			return w.err
		}
	}
	return nil
}

// Packets returns how many packets were written.
func (w *Writer) Packets() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.packets
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("pcap: %w", err)
	}
	return w.err
}

// Close flushes the buffer and, for a Writer from Create, closes the file.
// It returns the first error of any write. Later calls return nil.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.err
	if err == nil {
		if ferr := w.bw.Flush(); ferr != nil {
			err = fmt.Errorf("pcap: %w", ferr)
		}
	}
	if w.closer != nil {
		if cerr := w.closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("pcap: %w", cerr)
		}
	}
	w.buf, w.pkt = nil, nil
	return err
}

// beginBlock appends a block's type and a placeholder for its length and
// returns where the block starts.
func beginBlock(b []byte, typ uint32) ([]byte, int) {
	at := len(b)
	b = binary.LittleEndian.AppendUint32(b, typ)
	return binary.LittleEndian.AppendUint32(b, 0), at
}

// endBlock appends the trailing length and fills in the leading one.
func endBlock(b []byte, at int) []byte {
	n := uint32(len(b) - at + 4)
	binary.LittleEndian.PutUint32(b[at+4:], n)
	return binary.LittleEndian.AppendUint32(b, n)
}

func appendOption(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return pad4(b)
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// clip cuts s to at most MaxComment bytes at a character boundary and
// makes it valid UTF-8 (pcapng strings are UTF-8).
func clip(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= MaxComment {
		return s
	}
	cut := MaxComment - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
