package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/arq/transfer"
	"github.com/udpchat/udpchat/dgram/pcap"
	"github.com/udpchat/udpchat/dgram/seal"
)

// The reliable mode speaks package transfer over arq; this file keeps the
// flags' effects, the words and the rendering.

// reliableErr turns arq's and transfer's errors into what a user should
// read.
func reliableErr(err error, peer netip.AddrPort) error {
	var refused *transfer.RefusedError
	switch {
	case errors.Is(err, dgram.ErrRefused):
		return fmt.Errorf("no reply from %s: %w", peer, err) // as send --wait says it
	case errors.As(err, &refused), errors.Is(err, transfer.ErrFormat):
		return fmt.Errorf("reliable transfer to %s failed: %v", peer, err)
	case errors.Is(err, arq.ErrBusy):
		return fmt.Errorf("reliable transfer to %s failed: the receiver is busy with another transfer; try again once it is done", peer)
	case errors.Is(err, arq.ErrPeerUnreachable):
		return fmt.Errorf("reliable transfer to %s failed: %w; is `udpchat listen --reliable` running there?", peer, err)
	case errors.Is(err, arq.ErrIdle):
		return fmt.Errorf("reliable transfer with %s failed: %w (the peer went away)", peer, err)
	case errors.Is(err, arq.ErrZeroWindow):
		return fmt.Errorf("reliable transfer to %s failed: %w (the receiver stopped reading)", peer, err)
	case errors.Is(err, arq.ErrReset), errors.Is(err, arq.ErrStalled), errors.Is(err, transfer.ErrNoVerdict):
		return fmt.Errorf("reliable transfer with %s failed: %w", peer, err)
	}
	return err
}

// openRegular opens name for --file: only a regular file, whose size is
// known, and checked before the open, which blocks on a FIFO until a
// writer comes.
func openRegular(name string) (*os.File, int64, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, 0, usageErr("send", fmt.Sprintf("--file: %v", err))
	}
	if !st.Mode().IsRegular() {
		return nil, 0, usageErr("send", fmt.Sprintf("--file %s is not a regular file (%s): send a file whose size is known, or pipe it to `send --reliable` as lines", name, fileKind(st.Mode())))
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, usageErr("send", fmt.Sprintf("--file: %v", err))
	}
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, usageErr("send", fmt.Sprintf("--file %s changed into something that is not a regular file", name))
	}
	return f, st.Size(), nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// runSendReliable sends the messages (or --file) through arq and
// transfer, and succeeds only on the receiver's verdict.
func runSendReliable(ctx context.Context, o *sendOpts, file string, stdin io.Reader, out, errw io.Writer) error {
	var f *os.File
	var size int64 = -1
	if file != "" {
		var err error
		if f, size, err = openRegular(file); err != nil {
			return err
		}
		defer f.Close()
	}
	var local netip.AddrPort
	if o.from != "" {
		var err error
		if local, err = dgram.ResolveListen(ctx, o.from); err != nil {
			return err
		}
	}
	// A connected socket: an ICMP port unreachable ends the transfer at
	// once, as it ends send --wait.
	conn, err := dgram.DialAddrPort(o.dst, local)
	if err != nil {
		return err
	}
	defer conn.Close()
	sealed, err := sealConn(conn, o.key, errw, o.cap)
	if err != nil {
		return err
	}
	defer sealed.report()
	start := time.Now()
	c, err := arq.Dial(ctx, sealed.pc, o.dst, arq.Config{IdleTimeout: o.idle, MSS: sealed.mss()})
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(0, size, "byte")
		}
		return reliableErr(err, o.dst)
	}
	defer c.Abort()
	stop := context.AfterFunc(ctx, c.Abort) // Ctrl-C: give up at once, telling the peer
	defer stop()

	hdr := transfer.Header{Kind: transfer.KindMessages}
	if f != nil {
		hdr = transfer.Header{Kind: transfer.KindFile, Name: filepath.Base(file), Size: size}
	}
	s, err := transfer.NewSender(c, hdr)
	var prog *progress
	if err == nil && f != nil && isTerminal(errw) && !o.json {
		prog = startProgress(errw, s, size)
		defer prog.stop()
	}
	if err == nil {
		err = sendPayload(ctx, s, f, o, stdin)
	}
	var res *transfer.Sent
	if err == nil {
		res, err = s.Finish(ctx)
	}
	prog.stop()
	if ctx.Err() != nil {
		if f == nil {
			return interrupted(s.Acked(), -1, "byte")
		}
		return interrupted(s.Acked(), size, "byte")
	}
	if err != nil {
		return reliableErr(err, o.dst)
	}
	return reportSent(out, errw, o, file, hdr, res, time.Since(start))
}

// sendPayload sends the file, the messages, or stdin's lines. A read on
// stdin cannot be interrupted: it runs in a goroutine of its own
// (readStdin, as plain send's), so that Ctrl-C ends the transfer even
// while stdin has nothing to read.
func sendPayload(ctx context.Context, s *transfer.Sender, f *os.File, o *sendOpts, stdin io.Reader) error {
	switch {
	case f != nil:
		_, err := s.ReadFrom(f)
		return err
	case o.msgs != nil:
		for _, m := range o.msgs {
			for range o.count {
				if err := s.Message(m); err != nil {
					return err
				}
			}
		}
		return nil
	}
	const limit = arq.DefaultMaxMessage - 1 // an arq message holds the frame type and the line
	units := make(chan stdinUnit)
	stop := make(chan struct{})
	defer close(stop)
	go readStdin(stdin, limit, 0, false, units, stop)
	for {
		var u stdinUnit
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u, ok = <-units:
		}
		switch {
		case !ok:
			return nil
		case u.err != nil:
			return fmt.Errorf("reading stdin: %w", u.err)
		case u.tooLong:
			return fmt.Errorf("line %d of stdin is longer than %d bytes, the most one reliable message holds; nothing of it was sent", u.n, limit)
		}
		if err := s.Message(u.data); err != nil {
			return err
		}
	}
}

// interrupted is Ctrl-C's error: what the receiver had acknowledged, exit
// status 130.
func interrupted(done, total int64, unit string) error {
	if total >= 0 {
		return cli.Exit(fmt.Sprintf("interrupted after %d of %s", done, plural(uint64(total), unit)), 130)
	}
	return cli.Exit(fmt.Sprintf("interrupted after %s", plural(uint64(done), unit)), 130)
}

func reportSent(out, errw io.Writer, o *sendOpts, file string, hdr transfer.Header, res *transfer.Sent, el time.Duration) error {
	st := res.Stats
	goodput := float64(res.Bytes) * 8 / el.Seconds() / 1e6
	if o.json {
		return newJSONWriter(out).write(struct {
			Type        string  `json:"type"`
			Mode        string  `json:"mode"`
			To          string  `json:"to"`
			Kind        string  `json:"kind"`
			Verdict     string  `json:"verdict"`
			SavedAs     string  `json:"saved_as,omitempty"`
			Messages    uint64  `json:"messages"`
			Bytes       int64   `json:"bytes"`
			SHA256      string  `json:"sha256"`
			Segments    uint64  `json:"segments"`
			Retransmits uint64  `json:"retransmits"`
			Spurious    uint64  `json:"spurious"`
			Timeouts    uint64  `json:"timeouts"`
			WireBytes   uint64  `json:"wire_bytes"`
			SRTTms      float64 `json:"srtt_ms"`
			Seconds     float64 `json:"seconds"`
			GoodputMbps float64 `json:"goodput_mbps"`
		}{"summary", "reliable", o.dst.String(), hdr.Kind, res.Verdict.Status, res.Verdict.Name, res.Messages, res.Bytes,
			hex.EncodeToString(res.SHA256[:]), st.SegmentsSent, st.Retransmits, st.Spurious, st.Timeouts, st.WireBytesSent, ms(st.SRTT),
			el.Seconds(), goodput})
	}
	what, how := plural(res.Messages, "message"), "verified and delivered"
	if file != "" {
		// the receiver's words: quoted when a terminal would act on them
		what, how = "file "+file, "verified and saved as "+showPayload([]byte(res.Verdict.Name))
	}
	_, err := fmt.Fprintf(errw, "sent %s (%s) reliably to %s, %s: %s, %s, %s on the wire; sha256 %x\n",
		what, plural(uint64(res.Bytes), "byte"), o.dst, how, plural(st.SegmentsSent, "segment"),
		plural(st.Retransmits, "retransmission"), humanBytes(st.WireBytesSent), res.SHA256)
	return err
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

// progress draws, on a terminal, how much of a file the receiver has
// acknowledged: a bar, the bytes, the rate over the last seconds, the
// time left at that rate. Each frame erases the line it draws on, and the
// last erases the bar: nothing of it stays behind.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startProgress(w io.Writer, s *transfer.Sender, total int64) *progress {
	p := &progress{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		type sample struct {
			at    time.Time
			bytes int64
		}
		hist := []sample{{time.Now(), 0}}
		for {
			select {
			case <-p.done:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case now := <-t.C:
				acked := s.Acked()
				hist = append(hist, sample{now, acked})
				if len(hist) > 13 { // a rate over the last 3 seconds
					hist = hist[1:]
				}
				rate := float64(acked-hist[0].bytes) / max(now.Sub(hist[0].at).Seconds(), 1e-3)
				fmt.Fprint(w, "\r\x1b[K"+barLine(acked, total, rate))
			}
		}
	}()
	return p
}

// barLine is one frame of the progress bar.
func barLine(acked, total int64, rate float64) string {
	frac := 1.0
	if total > 0 {
		frac = min(float64(acked)/float64(total), 1)
	}
	const width = 30
	n := int(frac * width)
	eta := "--"
	if rate > 0 && total > acked {
		eta = (time.Duration(math.Ceil(float64(total-acked)/rate)) * time.Second).String()
	}
	return fmt.Sprintf("[%s%s] %5.1f%%  %s of %s  %s/s  ETA %s", strings.Repeat("#", n), strings.Repeat(".", width-n),
		frac*100, humanBytes(uint64(acked)), humanBytes(uint64(max(total, 0))), humanBytes(uint64(rate)), eta)
}

func (p *progress) stop() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

// reliableListener receives transfers for `listen --reliable`.
type reliableListener struct {
	o    *listenOpts
	out  io.Writer
	errw io.Writer
	js   *jsonWriter

	mu                  sync.Mutex // the counters and the output
	messages            uint64
	transfers, failures uint64
	busy                uint64
	strays              map[string]uint64
	strayShown          int
}

// maxStrayShown bounds the lines shown for datagrams that are not arq;
// the summary counts them all.
const maxStrayShown = 5

// runListenReliable accepts transfers on conn: one into --output, or,
// without it, any number at once, printing their messages.
func runListenReliable(ctx context.Context, o *listenOpts, conn *net.UDPConn, out, errw io.Writer) error {
	sealed, err := sealConn(conn, o.key, errw, o.cap)
	if err != nil {
		return err
	}
	defer sealed.report()
	r := &reliableListener{o: o, out: out, errw: errw, strays: map[string]uint64{}}
	if o.json {
		r.js = newJSONWriter(out)
	}
	l, err := arq.Listen(sealed.pc, arq.Config{IdleTimeout: o.idle, OnStray: r.stray, MSS: sealed.mss()})
	if err != nil {
		return err
	}
	defer func() { r.summary(l.Stats()) }()
	defer l.Close()
	if o.output != "" {
		return r.one(ctx, l)
	}
	return r.many(ctx, l)
}

// stray shows the first datagrams that were not arq packets of a
// connection, and counts them all.
func (r *reliableListener) stray(from netip.AddrPort, size int, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.strays[why]++
	if r.strayShown >= maxStrayShown {
		return
	}
	r.strayShown++
	if r.js != nil {
		_ = r.js.write(struct {
			Type   string `json:"type"`
			From   string `json:"from"`
			Bytes  int    `json:"bytes"`
			Reason string `json:"reason"`
		}{"ignored", from.String(), size, why})
		return
	}
	more := ""
	if r.strayShown == maxStrayShown {
		more = " (further ones are only counted)"
	}
	fmt.Fprintf(r.errw, "ignored %s from %s: %s; listen --reliable takes only udpchat send --reliable%s\n",
		plural(uint64(size), "byte"), from, strayText(why), more)
}

func strayText(why string) string {
	switch why {
	case "not arq":
		return "not an arq packet"
	case "unknown connection":
		return "an arq packet for no connection open here (an old transfer's, or spoofed)"
	}
	return "a " + why + " arq packet"
}

// one receives a single transfer into --output; senders that come while
// it runs are told that the receiver is busy.
func (r *reliableListener) one(ctx context.Context, l *arq.Listener) error {
	actx, cancel := context.WithCancel(ctx)
	first := make(chan *arq.Conn, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := l.Accept(actx)
			if err != nil {
				return
			}
			if n == 0 {
				first <- c
				continue
			}
			c.Reset(arq.ReasonBusy)
			r.mu.Lock()
			r.busy++
			r.mu.Unlock()
		}
	}()
	defer wg.Wait()
	defer cancel()
	var timeout <-chan time.Time
	if r.o.timeout > 0 {
		t := time.NewTimer(r.o.timeout)
		defer t.Stop()
		timeout = t.C
	}
	var c *arq.Conn
	select {
	case c = <-first:
	case <-ctx.Done():
		return nil
	case <-timeout:
		return fmt.Errorf("no transfer arrived within %v; nothing was written to %s", r.o.timeout, r.o.output)
	}
	dest := &transfer.Destination{Output: r.o.output, Force: r.o.force}
	return r.receive(ctx, c, dest)
}

// many receives transfers until the context ends, --timeout passes with
// none, or --count messages arrived.
func (r *reliableListener) many(ctx context.Context, l *arq.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		actx, acancel := ctx, context.CancelFunc(func() {})
		if r.o.timeout > 0 {
			actx, acancel = context.WithTimeout(ctx, r.o.timeout)
		}
		c, err := l.Accept(actx)
		acancel()
		if err != nil {
			return nil // interrupted, or nothing came within --timeout
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.receive(ctx, c, nil); err != nil {
				r.mu.Lock()
				fmt.Fprintf(r.errw, "warning: %v\n", err)
				r.mu.Unlock()
			}
			r.mu.Lock()
			enough := r.o.count > 0 && r.messages >= r.o.count
			r.mu.Unlock()
			if enough {
				cancel()
			}
		}()
	}
}

// receive runs one transfer and reports it.
func (r *reliableListener) receive(ctx context.Context, c *arq.Conn, dest *transfer.Destination) error {
	peer := c.Peer()
	o := transfer.Options{Dest: dest, OnMessage: func(m []byte) error { return r.message(peer, m) }}
	if dest != nil {
		o.Stall = r.o.idle // nobody holds a single-transfer listener with keepalives
	}
	got, err := transfer.Receive(ctx, c, o)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil && dest == nil {
			return nil
		}
		r.failures++
		where := ""
		if dest != nil {
			where = "; nothing was written to " + r.o.output
		}
		if ctx.Err() != nil {
			return interrupted(got.Bytes, got.Header.Size, "byte")
		}
		return fmt.Errorf("transfer from %s failed after %s: %v%s", peer, plural(uint64(got.Bytes), "byte"), transferCause(err), where)
	}
	r.transfers++
	st := got.Stats
	if r.js != nil {
		return r.js.write(struct {
			Type        string  `json:"type"`
			From        string  `json:"from"`
			Kind        string  `json:"kind"`
			Name        string  `json:"name,omitempty"`
			Messages    uint64  `json:"messages"`
			Bytes       int64   `json:"bytes"`
			SHA256      string  `json:"sha256"`
			Verified    bool    `json:"verified"`
			Output      string  `json:"output,omitempty"`
			Duplicates  uint64  `json:"duplicate_segments"`
			OutOfOrder  uint64  `json:"out_of_order_segments"`
			Corrupt     uint64  `json:"corrupt_packets"`
			HOLMessages uint64  `json:"hol_blocked_messages"`
			HOLMaxMs    float64 `json:"hol_max_ms"`
		}{"transfer", peer.String(), got.Header.Kind, got.Header.Name, got.Messages, got.Bytes, hex.EncodeToString(got.SHA256[:]),
			true, got.Path, st.DuplicateSegments, st.OutOfOrder, st.Corrupt, st.HOLMessages, ms(st.HOLMax)})
	}
	what, where := plural(got.Messages, "message"), ""
	if got.Header.Kind == transfer.KindFile {
		what = fmt.Sprintf("file %q", got.Header.Name)
	}
	if got.Path != "" {
		where = " into " + got.Path
	}
	_, err = fmt.Fprintf(r.out, "received %s (%s) from %s%s; sha256 %x verified\n", what, plural(uint64(got.Bytes), "byte"), peer, where, got.SHA256)
	return err
}

// transferCause says why a transfer failed, in the receiver's words.
func transferCause(err error) string {
	var refused *transfer.RefusedError
	if errors.As(err, &refused) {
		return refused.Verdict.Reason
	}
	return err.Error()
}

// message prints one message of a transfer.
func (r *reliableListener) message(peer netip.AddrPort, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages++
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

// summary ends a listen --reliable run: without --output, the counts;
// with it, only what the transfer's own line does not say.
func (r *reliableListener) summary(ls arq.ListenerStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ignored uint64
	for _, n := range r.strays {
		ignored += n
	}
	if r.js != nil {
		_ = r.js.write(struct {
			Type       string            `json:"type"`
			Transfers  uint64            `json:"transfers"`
			Failed     uint64            `json:"failed"`
			Messages   uint64            `json:"messages"`
			Busy       uint64            `json:"refused_busy"`
			Full       uint64            `json:"refused_full"`
			SynAcks    uint64            `json:"syn_acks"`
			BadCookies uint64            `json:"bad_cookies"`
			Ignored    map[string]uint64 `json:"ignored,omitempty"`
		}{"summary", r.transfers, r.failures, r.messages, r.busy, ls.Refused, ls.SynAcks, ls.BadCookies, r.strays})
		return
	}
	var extra []string
	if r.busy > 0 {
		extra = append(extra, fmt.Sprintf("%s refused: busy", plural(r.busy, "sender")))
	}
	if ls.Refused > 0 {
		extra = append(extra, fmt.Sprintf("%s refused: as many connections as allowed", plural(ls.Refused, "sender")))
	}
	if ignored > 0 {
		extra = append(extra, fmt.Sprintf("%s ignored (not arq packets of a transfer)", plural(ignored, "datagram")))
	}
	if r.o.output != "" {
		if len(extra) > 0 {
			fmt.Fprintln(r.errw, strings.Join(extra, "; "))
		}
		return
	}
	line := fmt.Sprintf("received %s (%d failed), %s", plural(r.transfers, "transfer"), r.failures, plural(r.messages, "message"))
	if len(extra) > 0 {
		line += "; " + strings.Join(extra, "; ")
	}
	fmt.Fprintln(r.out, line)
}

// sealedConn is the PacketConn arq runs on: the socket itself, or with a
// key the socket wrapped in a seal.Conn.
type sealedConn struct {
	pc   net.PacketConn
	conn *seal.Conn // nil without a key
	errw io.Writer
}

func sealConn(conn *net.UDPConn, k *seal.Key, errw io.Writer, cp *capture) (*sealedConn, error) {
	if k == nil && cp == nil {
		return &sealedConn{pc: conn}, nil
	}
	// Sealed, the socket keeps its batches, GRO, and the address each
	// peer contacted (for a listener on a wildcard address).
	var bc dgram.BatchConn
	bc, err := dgram.NewConn(conn, dgram.ConnConfig{Dst: true, GRO: true})
	if err != nil {
		return nil, err
	}
	if cp != nil {
		bc = pcap.NewConn(bc, cp.w, 0) // --pcap: the datagrams as they cross the socket
	}
	if k == nil {
		return &sealedConn{pc: bc}, nil
	}
	c, err := seal.NewConn(bc, k, seal.Config{})
	if err != nil {
		return nil, err
	}
	return &sealedConn{pc: c, conn: c, errw: errw}, nil
}

// mss is the arq segment size that keeps a datagram within arq's default
// (an Ethernet MTU): sealing adds its header and tag to every datagram, so
// with a key each segment carries that much less, or a keyed datagram of
// 1,473 bytes would be fragmented on a 1,500-byte link.
func (s *sealedConn) mss() int {
	if s.conn != nil {
		return arq.DefaultMSS - s.conn.Overhead()
	}
	return arq.DefaultMSS
}

// report prints, with a key, what was authenticated and rejected.
func (s *sealedConn) report() {
	if s.conn != nil {
		fmt.Fprintf(s.errw, "sealed: %d authenticated, %s\n", s.conn.Accepted(), rejectedText(s.conn.Rejected()))
	}
}
