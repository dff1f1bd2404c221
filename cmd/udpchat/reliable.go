package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/seal"
)

// The reliable mode's messages, over arq. Each arq message starts with a
// frame type byte:
//
//	'H' + JSON {"udpchat":1,"kind":"file"|"messages","name":...,"size":N}   first
//	'M' + the bytes of one message                                          kind messages
//	'D' + a chunk of the file                                               kind file
//	'S' + the 32-byte SHA-256 of every message or file byte, in order       last
//
// then the sender closes (arq FIN). The receiver checks the SHA-256.
const (
	frameHeader = 'H'
	frameMsg    = 'M'
	frameData   = 'D'
	frameSum    = 'S'
	fileChunk   = 64 << 10
)

type transferHeader struct {
	Udpchat int    `json:"udpchat"`
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
	Size    int64  `json:"size"`
}

// reliableErr turns arq's errors into what a user should read.
func reliableErr(err error, peer netip.AddrPort) error {
	switch {
	case errors.Is(err, arq.ErrPeerUnreachable):
		return fmt.Errorf("reliable transfer to %s failed: %w; is `udpchat listen --reliable` running there?", peer, err)
	case errors.Is(err, arq.ErrIdle):
		return fmt.Errorf("reliable transfer with %s failed: %w (the peer went away)", peer, err)
	case errors.Is(err, arq.ErrReset):
		return fmt.Errorf("reliable transfer with %s failed: %w", peer, err)
	}
	return err
}

// runSendReliable sends the messages (or --file) through arq.
func runSendReliable(ctx context.Context, o *sendOpts, file string, stdin io.Reader, out, errw io.Writer) error {
	var f *os.File
	var size int64 = -1
	if file != "" {
		var err error
		if f, err = os.Open(file); err != nil {
			return usageErr("send", fmt.Sprintf("--file: %v", err))
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return usageErr("send", fmt.Sprintf("--file %s is not a regular file", file))
		}
		size = st.Size()
	}
	local := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if !o.dst.Addr().Unmap().Is4() {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	if o.from != "" {
		var err error
		if local, err = dgram.ResolveListen(ctx, o.from); err != nil {
			return err
		}
	}
	pc, err := dgram.ListenAddrPort(local)
	if err != nil {
		return err
	}
	defer pc.Close()
	sealed, err := sealConn(pc, o.key, errw)
	if err != nil {
		return err
	}
	defer sealed.report()
	conn, err := arq.Dial(ctx, sealed.pc, o.dst, arq.Config{IdleTimeout: o.idle})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return reliableErr(err, o.dst)
	}
	defer conn.Abort()
	stop := context.AfterFunc(ctx, conn.Abort) // Ctrl-C: give up at once, telling the peer
	defer stop()

	h := sha256.New()
	var payload, count uint64
	send := func(typ byte, b []byte) error {
		msg := append([]byte{typ}, b...)
		if err := conn.Send(msg); err != nil {
			return reliableErr(err, o.dst)
		}
		return nil
	}
	hdr := transferHeader{Udpchat: 1, Kind: "messages", Size: -1}
	if f != nil {
		hdr = transferHeader{Udpchat: 1, Kind: "file", Name: filepath.Base(file), Size: size}
	}
	hb, _ := json.Marshal(hdr)
	if err := send(frameHeader, hb); err != nil {
		return err
	}
	var prog *progress
	if f != nil && isTerminal(errw) && !o.json {
		prog = startProgress(errw, conn, size)
		defer prog.stop()
	}
	switch {
	case f != nil:
		br := bufio.NewReaderSize(f, fileChunk)
		buf := make([]byte, fileChunk)
		for {
			n, rerr := io.ReadFull(br, buf)
			if n > 0 {
				h.Write(buf[:n])
				payload += uint64(n)
				count++
				if err := send(frameData, buf[:n]); err != nil {
					return err
				}
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				return fmt.Errorf("reading --file %s: %w", file, rerr)
			}
		}
	case o.msgs != nil:
		for _, m := range o.msgs {
			for range o.count {
				h.Write(m)
				h.Write([]byte("\n"))
				payload += uint64(len(m))
				count++
				if err := send(frameMsg, m); err != nil {
					return err
				}
			}
		}
	default:
		br := bufio.NewReader(stdin)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				line = []byte(strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"))
				h.Write(line)
				h.Write([]byte("\n"))
				payload += uint64(len(line))
				count++
				if err := send(frameMsg, line); err != nil {
					return err
				}
			}
			if err != nil {
				break
			}
		}
	}
	sum := h.Sum(nil)
	if err := send(frameSum, sum); err != nil {
		return err
	}
	if err := conn.Close(); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return reliableErr(err, o.dst)
	}
	if prog != nil {
		prog.stop()
	}
	st := conn.Stats()
	what := plural(count, "message")
	if f != nil {
		what = fmt.Sprintf("file %s", file)
	}
	if o.json {
		return newJSONWriter(out).write(struct {
			Type        string  `json:"type"`
			Mode        string  `json:"mode"`
			To          string  `json:"to"`
			Kind        string  `json:"kind"`
			Messages    uint64  `json:"messages"`
			Bytes       uint64  `json:"bytes"`
			SHA256      string  `json:"sha256"`
			Segments    uint64  `json:"segments"`
			Retransmits uint64  `json:"retransmits"`
			Timeouts    uint64  `json:"timeouts"`
			WireBytes   uint64  `json:"wire_bytes"`
			SRTTms      float64 `json:"srtt_ms"`
		}{"summary", "reliable", o.dst.String(), hdr.Kind, count, payload, hex.EncodeToString(sum), st.SegmentsSent,
			st.Retransmits, st.Timeouts, st.WireBytesSent, ms(st.SRTT)})
	}
	fmt.Fprintf(errw, "sent %s (%s) reliably to %s: %s, %s, %s on the wire; sha256 %x\n",
		what, plural(payload, "byte"), o.dst, plural(st.SegmentsSent, "segment"),
		plural(st.Retransmits, "retransmission"), humanBytes(st.WireBytesSent), sum)
	return nil
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// progress draws a progress bar on a terminal while a file goes out.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startProgress(w io.Writer, c *arq.Conn, total int64) *progress {
	p := &progress{done: make(chan struct{})}
	start := time.Now()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		draw := func() {
			st := c.Stats()
			sent := int64(st.BytesSent)
			frac := 1.0
			if total > 0 {
				frac = min(float64(sent)/float64(total), 1)
			}
			el := time.Since(start).Seconds()
			rate := float64(sent) / max(el, 1e-9)
			eta := "--"
			if rate > 0 && total > sent {
				eta = (time.Duration(float64(total-sent)/rate) * time.Second / time.Second).Round(time.Second).String()
			}
			const width = 30
			bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
			fmt.Fprintf(w, "\r[%s] %5.1f%% %s of %s  %s/s  %d retransmitted  ETA %s ", bar, frac*100,
				humanBytes(uint64(sent)), humanBytes(uint64(max(total, 0))), humanBytes(uint64(rate)), st.Retransmits, eta)
		}
		for {
			select {
			case <-p.done:
				draw()
				fmt.Fprintln(w)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

// reliableListener receives arq transfers for `listen --reliable`.
type reliableListener struct {
	o      *listenOpts
	out    io.Writer
	errw   io.Writer
	js     *jsonWriter
	output string

	messages            uint64
	transfers, failures uint64
}

// summary ends a listen --reliable run without --output (with it, the
// transfer's own line is the summary).
func (r *reliableListener) summary() {
	if r.output != "" {
		return
	}
	if r.js != nil {
		_ = r.js.write(struct {
			Type      string `json:"type"`
			Transfers uint64 `json:"transfers"`
			Failed    uint64 `json:"failed"`
			Messages  uint64 `json:"messages"`
		}{"summary", r.transfers, r.failures, r.messages})
		return
	}
	fmt.Fprintf(r.out, "received %s (%d failed), %s\n", plural(r.transfers, "transfer"), r.failures, plural(r.messages, "message"))
}

// runListenReliable accepts transfers on conn until the context ends, the
// idle timeout passes, or (with --output) one transfer completes.
func runListenReliable(ctx context.Context, o *listenOpts, conn *net.UDPConn, out, errw io.Writer) error {
	sealed, err := sealConn(conn, o.key, errw)
	if err != nil {
		return err
	}
	defer sealed.report()
	l, err := arq.Listen(sealed.pc, arq.Config{IdleTimeout: o.idle})
	if err != nil {
		return err
	}
	defer l.Close()
	r := &reliableListener{o: o, out: out, errw: errw, output: o.output}
	if o.json {
		r.js = newJSONWriter(out)
	}
	defer r.summary()
	for {
		actx := ctx
		var cancel context.CancelFunc = func() {}
		if o.timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, o.timeout)
		}
		c, err := l.Accept(actx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if r.output != "" {
					return fmt.Errorf("no transfer arrived within %v; nothing was written to %s", o.timeout, r.output)
				}
				return nil
			}
			return err
		}
		err = r.receive(ctx, c)
		if r.output != "" || ctx.Err() != nil {
			return err
		}
		if err != nil {
			fmt.Fprintf(errw, "warning: %v\n", err)
		}
		if o.count > 0 && r.messages >= o.count {
			return nil
		}
	}
}

// receive reads one transfer.
func (r *reliableListener) receive(ctx context.Context, c *arq.Conn) error {
	peer := c.RemoteAddr().(*net.UDPAddr).AddrPort()
	stop := context.AfterFunc(ctx, c.Abort)
	defer stop()
	defer c.Abort()
	first, err := c.Recv()
	if err != nil {
		return r.failed(peer, reliableErr(err, peer), 0)
	}
	var hdr transferHeader
	if len(first) < 1 || first[0] != frameHeader || json.Unmarshal(first[1:], &hdr) != nil || hdr.Udpchat != 1 {
		return r.failed(peer, errors.New("the first message is not a udpchat transfer header"), 0)
	}
	var tmp *os.File
	var w *bufio.Writer
	if r.output != "" {
		dir := filepath.Dir(r.output)
		if tmp, err = os.CreateTemp(dir, "."+filepath.Base(r.output)+".part-*"); err != nil {
			return fmt.Errorf("cannot write into %s: %w", dir, err)
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = bufio.NewWriterSize(tmp, 1<<20)
	}
	h := sha256.New()
	var bytes, msgs uint64
	var sum []byte
	for {
		m, err := c.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return r.failed(peer, reliableErr(err, peer), bytes)
		}
		if len(m) == 0 || sum != nil {
			return r.failed(peer, errors.New("malformed transfer: a message after the checksum, or an empty one"), bytes)
		}
		body := m[1:]
		switch m[0] {
		case frameMsg, frameData:
			bytes += uint64(len(body))
			msgs++
			if err := r.deliver(h, w, peer, hdr, m[0], body); err != nil {
				return err
			}
		case frameSum:
			sum = body
		default:
			return r.failed(peer, fmt.Errorf("malformed transfer: unknown frame %q", m[0]), bytes)
		}
	}
	got := h.Sum(nil)
	if sum == nil {
		return r.failed(peer, errors.New("the transfer ended without its SHA-256"), bytes)
	}
	ok := hex.EncodeToString(sum) == hex.EncodeToString(got)
	_ = c.Close()
	if !ok {
		return r.failed(peer, fmt.Errorf("SHA-256 mismatch: the sender says %x, the bytes received hash to %x", sum, got), bytes)
	}
	st := c.Stats()
	r.transfers++
	if w != nil {
		if err := w.Flush(); err != nil {
			return r.failed(peer, err, bytes)
		}
		if err := tmp.Sync(); err != nil {
			return r.failed(peer, err, bytes)
		}
		if err := tmp.Close(); err != nil {
			return r.failed(peer, err, bytes)
		}
		if err := os.Rename(tmp.Name(), r.output); err != nil {
			return r.failed(peer, err, bytes)
		}
		tmp = nil
	}
	if r.js != nil {
		return r.js.write(struct {
			Type        string  `json:"type"`
			From        string  `json:"from"`
			Kind        string  `json:"kind"`
			Name        string  `json:"name,omitempty"`
			Messages    uint64  `json:"messages"`
			Bytes       uint64  `json:"bytes"`
			SHA256      string  `json:"sha256"`
			Verified    bool    `json:"verified"`
			Output      string  `json:"output,omitempty"`
			Duplicates  uint64  `json:"duplicate_segments"`
			OutOfOrder  uint64  `json:"out_of_order_segments"`
			Corrupt     uint64  `json:"corrupt_packets"`
			HOLMessages uint64  `json:"hol_blocked_messages"`
			HOLMaxMs    float64 `json:"hol_max_ms"`
		}{"transfer", peer.String(), hdr.Kind, hdr.Name, msgs, bytes, hex.EncodeToString(got), true, r.output,
			st.DuplicateSegments, st.OutOfOrder, st.Corrupt, st.HOLMessages, ms(st.HOLMax)})
	}
	what := plural(msgs, "message")
	if hdr.Kind == "file" {
		what = fmt.Sprintf("file %q", hdr.Name)
	}
	where := ""
	if r.output != "" {
		where = " into " + r.output
	} else if hdr.Kind == "file" {
		where = " (not saved: give --output FILE)"
	}
	_, err = fmt.Fprintf(r.out, "received %s (%s) from %s%s; sha256 %x verified\n", what, plural(bytes, "byte"), peer, where, got)
	return err
}

// deliver writes or prints one message of a transfer.
func (r *reliableListener) deliver(h hash.Hash, w *bufio.Writer, peer netip.AddrPort, hdr transferHeader, typ byte, body []byte) error {
	h.Write(body)
	if typ == frameMsg {
		h.Write([]byte("\n"))
		r.messages++
	}
	if w != nil {
		if _, err := w.Write(body); err != nil {
			return err
		}
		if typ == frameMsg {
			return w.WriteByte('\n')
		}
		return nil
	}
	if typ != frameMsg {
		return nil // a file without --output: hashed, not printed
	}
	if r.js != nil {
		return r.js.write(struct {
			Type  string `json:"type"`
			From  string `json:"from"`
			Bytes int    `json:"bytes"`
			payloadJSON
		}{"message", peer.String(), len(body), newPayloadJSON(body)})
	}
	_, err := fmt.Fprintf(r.out, "%s (%s, reliable): %s\n", peer, plural(uint64(len(body)), "byte"), showPayload(body))
	return err
}

func (r *reliableListener) failed(peer netip.AddrPort, err error, bytes uint64) error {
	r.failures++
	where := ""
	if r.output != "" {
		where = "; nothing was written to " + r.output
	}
	return fmt.Errorf("transfer from %s failed after %s: %v%s", peer, plural(bytes, "byte"), err, where)
}

// sealedConn is the PacketConn arq runs on: the socket itself, or with a
// key the socket wrapped in a seal.Conn.
type sealedConn struct {
	pc   net.PacketConn
	conn *seal.Conn // nil without a key
	errw io.Writer
}

func sealConn(pc net.PacketConn, k *seal.Key, errw io.Writer) (*sealedConn, error) {
	if k == nil {
		return &sealedConn{pc: pc}, nil
	}
	c, err := seal.NewConn(pc, k, seal.Config{})
	if err != nil {
		return nil, err
	}
	return &sealedConn{pc: c, conn: c, errw: errw}, nil
}

// report prints, with a key, what was authenticated and rejected.
func (s *sealedConn) report() {
	if s.conn != nil {
		fmt.Fprintf(s.errw, "sealed: %d authenticated, %s\n", s.conn.Accepted(), rejectedText(s.conn.Rejected()))
	}
}
