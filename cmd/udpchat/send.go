package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/pmtu"
	"github.com/udpchat/udpchat/dgram/seal"
	"github.com/udpchat/udpchat/dgram/seq"
)

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "send datagrams: each MSG, or each line of stdin, is one datagram (sendto)",
		ArgsUsage: "HOST:PORT [MSG...]",
		Description: "Sends each MSG as one datagram to HOST:PORT, in order. With no MSG, each line of\n" +
			"stdin is one datagram (without its newline), so it pipes. --size N pads each message\n" +
			"to N bytes, or with no MSG builds one N-byte payload. --count N sends each message N\n" +
			"times before the next. --wait waits up to --timeout for a reply to each datagram and\n" +
			"prints it; no reply is a failure (exit 1), and the error says whether the port refused\n" +
			"(nobody listening) or stayed silent. A message over the size limit (65507 bytes over\n" +
			"IPv4, 65527 over IPv6) is refused before anything is sent. --seq puts the 20-byte\n" +
			"sequence header before each payload (--size counts it: the whole datagram is N bytes).\n" +
			"--reliable sends through arq instead: every message arrives once, whole and in order,\n" +
			"whatever the network does, and may be larger than a datagram; --file sends a file.\n" +
			"Both sides print the SHA-256 of what went across.\n\n" +
			"Examples:\n" +
			"  udpchat send 127.0.0.1:9000 hello world     # two datagrams\n" +
			"  echo hi | udpchat send [::1]:9000\n" +
			"  udpchat send 127.0.0.1:9000 ping --wait --timeout 500ms\n" +
			"  udpchat send 127.0.0.1:9000 --size 1400 --count 100 --interval 10ms\n" +
			"  udpchat send 127.0.0.1:9000 --seq --count 1000 --size 64 --interval 1ms\n" +
			"  udpchat send 127.0.0.1:9000 --reliable --file photo.jpg      # to: udpchat listen --reliable --output photo.jpg\n" +
			"  udpchat send 127.0.0.1:9000 -- --not-a-flag",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "wait", Usage: "wait for a reply to each datagram and print it"},
			&cli.GenericFlag{Name: "timeout", Aliases: []string{"w"}, Value: &durationValue{d: 2 * time.Second}, Usage: "wait up to `D` for the reply to each datagram; implies --wait (nc's -w)"},
			&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Value: 1, Usage: "send each message `N` times"},
			&cli.GenericFlag{Name: "interval", Aliases: []string{"i"}, Value: &durationValue{}, Usage: "gap `D` between consecutive datagrams, on an absolute schedule"},
			&cli.GenericFlag{Name: "size", Value: &sizeValue{}, Usage: "make each datagram `N` bytes: pad messages, or build a payload when there is none"},
			&cli.StringFlag{Name: "from", Aliases: []string{"s"}, Usage: "bind the local side to `ADDR` (HOST:PORT, :PORT, a port, or an IP address: any port)"},
			&cli.BoolFlag{Name: "seq", Usage: "start each datagram with the 20-byte sequence header (seq from 0, send time), for listen --seq"},
			&cli.BoolFlag{Name: "reliable", Usage: "deliver every message once and in order, through arq (to listen --reliable)"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "send the bytes of `FILE` reliably (implies --reliable)"},
			&cli.GenericFlag{Name: "idle", Value: &durationValue{d: arq.DefaultIdleTimeout}, Usage: "with --reliable, give up on a peer silent for `D`"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "report what was sent and received as JSON lines"},
			keyFileFlag(),
			&cli.BoolFlag{Name: "df", Usage: dfFlagUsage},
			newlineFlag(), crlfFlag(),
			&cli.BoolFlag{Name: "whole", Usage: "send all of stdin as one datagram, its bytes as they are (binary-safe)"},
			&cli.GenericFlag{Name: "chunk", Value: &sizeValue{}, Usage: "send stdin in datagrams of `N` bytes each, as they are (binary-safe; the last may be shorter)"},
			pcapFlag(),
			explainFlag(),
		},
		Action: runSend,
	}
}

type sendOpts struct {
	dst      netip.AddrPort
	dstText  string
	msgs     [][]byte // nil: read stdin
	end      []byte   // --newline, --crlf: appended to each message
	whole    bool     // --whole: stdin is one datagram
	chunk    int      // --chunk: stdin in datagrams of this many bytes
	count    int
	interval time.Duration
	size     int
	sizeSet  bool
	wait     bool
	df       bool
	timeout  time.Duration
	from     string
	seq      bool
	json     bool
	reliable bool
	file     string
	idle     time.Duration
	key      *seal.Key
	cap      *capture   // --pcap
	ex       *explainer // --explain
}

// padByte fills --size padding.
const padByte = '.'

// buildPayload returns n printable bytes: "abcdefghijklmnopqrstuvwxyzabc...".
func buildPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func parseSendOpts(c *cli.Context) (*sendOpts, error) {
	if c.NArg() < 1 {
		return nil, usagef(c, "send needs a destination HOST:PORT, for example: udpchat send 127.0.0.1:9000 hello")
	}
	o := &sendOpts{
		dstText:  c.Args().First(),
		count:    c.Int("count"),
		interval: durationFlag(c, "interval"),
		wait:     c.Bool("wait") || c.IsSet("timeout"),
		df:       c.Bool("df"),
		timeout:  durationFlag(c, "timeout"),
		from:     c.String("from"),
		seq:      c.Bool("seq"),
		json:     c.Bool("json"),
		file:     c.String("file"),
		idle:     durationFlag(c, "idle"),
	}
	if o.idle < 100*time.Millisecond {
		return nil, usagef(c, "--idle must be at least 100ms")
	}
	o.reliable = c.Bool("reliable") || o.file != ""
	if err := refuseUnless(c, o.reliable, "needs --reliable: it is how long arq waits for a silent receiver (for replies, --timeout)", "idle"); err != nil {
		return nil, err
	}
	if o.reliable {
		for _, f := range []string{"seq", "wait", "timeout", "interval", "df", "explain"} {
			if c.IsSet(f) {
				return nil, usagef(c, "--%s does not go with --reliable: arq numbers, paces and acknowledges the messages itself", f)
			}
		}
		if o.file != "" && (c.NArg() > 1 || c.IsSet("size")) {
			return nil, usagef(c, "--file sends the file's bytes: give no MSG and no --size")
		}
		if o.file != "" && c.IsSet("count") {
			return nil, usagef(c, "--count does not go with --file: the file is sent once, whole")
		}
		if c.NArg() < 2 && c.IsSet("count") {
			return nil, usagef(c, "--count repeats each MSG; with --reliable, each line of stdin is sent once")
		}
	}
	end, err := lineEnding(c)
	if err != nil {
		return nil, err
	}
	o.end = end
	chunk, chunkSet := sizeFlag(c, "chunk")
	o.whole, o.chunk = c.Bool("whole"), int(chunk)
	if o.reliable && o.end != nil {
		return nil, usagef(c, "--newline and --crlf are for peers that read lines; arq keeps each message whole by itself")
	}
	if o.whole || chunkSet {
		mode := "--whole"
		if chunkSet {
			mode = "--chunk"
		}
		switch {
		case o.whole && chunkSet:
			return nil, usagef(c, "--whole and --chunk do not go together: all of stdin as one datagram, or in pieces of N bytes")
		case c.NArg() > 1 || c.IsSet("size"):
			return nil, usagef(c, "%s reads stdin: give no MSG and no --size (with them, stdin is not read)", mode)
		case o.end != nil:
			return nil, usagef(c, "--newline and --crlf end lines; %s sends stdin's bytes as they are", mode)
		case o.reliable:
			return nil, usagef(c, "%s sends plain datagrams; with --reliable, --file sends a file's bytes whole", mode)
		case chunkSet && o.chunk < 1:
			return nil, usagef(c, "--chunk must be at least 1 byte")
		}
	}
	if o.count < 1 {
		return nil, usagef(c, "--count must be at least 1, got %d", o.count)
	}
	if o.timeout <= 0 {
		return nil, usagef(c, "--timeout must be more than 0")
	}
	size, set := sizeFlag(c, "size")
	if n := c.NArg() - 1; c.IsSet("interval") && (n == 1 || n == 0 && set) && o.count == 1 {
		return nil, usagef(c, "--interval is the gap between datagrams: with one datagram to send it has nothing to pace (add --count N)")
	}
	if set && size > dgram.MaxPayload {
		return nil, usagef(c, "--size %d is over the largest UDP payload (%d bytes over IPv6, %d over IPv4)", size, dgram.MaxPayloadIPv6, dgram.MaxPayloadIPv4)
	}
	if set && o.seq && size < seq.HeaderLen {
		return nil, usagef(c, "--size %d is too small for --seq: the sequence header alone is %d bytes, and --size counts it", size, seq.HeaderLen)
	}
	o.size, o.sizeSet = int(size), set
	if ip, err := netip.ParseAddr(o.from); err == nil {
		o.from = netip.AddrPortFrom(ip, 0).String() // nc -s: an address alone, any port
	}
	if o.from != "" {
		if _, _, _, err := dgram.ParseListenAddr(o.from); err != nil {
			return nil, err
		}
	}
	key, err := loadKey(c)
	if err != nil {
		return nil, err
	}
	o.key = key
	dst, err := dgram.Resolve(c.Context, o.dstText)
	if err != nil {
		return nil, err
	}
	o.dst = dst
	for _, m := range c.Args().Tail() {
		o.msgs = append(o.msgs, []byte(m))
	}
	if len(o.msgs) == 0 && o.sizeSet {
		o.msgs = [][]byte{buildPayload(max(o.size-o.headerLen()-len(o.end), 0))}
	}
	for i, m := range o.msgs {
		if m, err = o.shape(m); err != nil {
			return nil, usagef(c, "message %d: %v", i+1, err)
		}
		o.msgs[i] = m
	}
	if o.chunk > 0 {
		if _, err := o.shape(make([]byte, o.chunk)); err != nil {
			return nil, usagef(c, "--chunk %d: %v", o.chunk, err)
		}
	}
	return o, nil
}

// headerLen is the size of the header --seq puts before each payload.
func (o *sendOpts) headerLen() int {
	if o.seq {
		return seq.HeaderLen
	}
	return 0
}

// shape pads payload m so that the datagram is --size bytes, and checks the
// datagram against the size limit.
func (o *sendOpts) shape(m []byte) ([]byte, error) {
	hl := o.headerLen()
	if o.sizeSet {
		if n := len(m) + len(o.end); n+hl > o.size {
			what := fmt.Sprintf("%d bytes", len(m))
			if len(o.end) > 0 {
				what += " and the line ending"
			}
			if hl > 0 {
				return nil, fmt.Errorf("%s and the %d-byte header are more than --size %d", what, hl, o.size)
			}
			return nil, fmt.Errorf("%s, more than --size %d", what, o.size)
		}
		for len(m)+len(o.end)+hl < o.size {
			m = append(m, padByte)
		}
	}
	m = withLineEnd(m, o.end)
	if o.reliable {
		if len(m) > arq.DefaultMaxMessage-1 {
			return nil, fmt.Errorf("%d bytes, over the largest reliable message (%d bytes)", len(m), arq.DefaultMaxMessage-1)
		}
		return m, nil
	}
	if o.key != nil {
		if err := sealedLimit(len(m)+hl, o.dst); err != nil {
			return nil, err
		}
		return m, nil
	}
	if err := dgram.CheckSize(len(m)+hl, o.dst); err != nil {
		return nil, err
	}
	return m, nil
}

func runSend(c *cli.Context) (err error) {
	o, err := parseSendOpts(c)
	if err != nil {
		return err
	}
	if o.msgs == nil && o.file == "" && isTerminal(c.App.Reader) {
		// Nothing to send but stdin, and stdin is a terminal: say so,
		// rather than wait in silence.
		unit := "each line you type is one datagram"
		switch {
		case o.reliable:
			unit = "each line you type is one message"
		case o.whole:
			unit = "all you type, until Ctrl-D, is one datagram"
		case o.chunk > 0:
			unit = fmt.Sprintf("what you type goes in datagrams of %d bytes", o.chunk)
		}
		fmt.Fprintf(c.App.ErrWriter, "reading stdin: %s to %s; Ctrl-D ends (or give the messages as arguments: udpchat send %s MSG...)\n",
			unit, o.dst, o.dstText)
	}
	if o.cap, err = openCapture(c); err != nil {
		return err
	}
	defer closeCapture(o.cap, &err)
	if o.reliable {
		return runSendReliable(c.Context, o, o.file, c.App.Reader, c.App.Writer, c.App.ErrWriter)
	}
	var src netip.AddrPort
	if o.from != "" {
		if src, err = dgram.ResolveListen(c.Context, o.from); err != nil {
			return err
		}
	}
	conn, err := dgram.DialAddrPort(o.dst, src)
	if err != nil {
		return err
	}
	defer conn.Close()
	o.ex = newExplainer(c)
	o.ex.opened(conn, true, src)
	if err := o.cap.askTTL(conn, o.ex); err != nil {
		return err
	}
	defer o.ex.close()
	if o.df {
		if err := pmtu.SetDF(conn, pmtu.Do); err != nil {
			return err
		}
		o.ex.df(conn)
	}
	s := &sender{opts: o, conn: conn, out: c.App.Writer, errw: c.App.ErrWriter, start: time.Now()}
	if s.keys, err = newKeyring(o.key); err != nil {
		return err
	}
	if o.json {
		s.js = newJSONWriter(c.App.Writer)
	}
	if o.wait {
		s.reader = dgram.NewReader(conn, 0)
		s.reader.SetTracer(o.ex.tracer())
		s.table = newReplyTable(o.seq)
	}
	if o.msgs != nil {
		for _, m := range o.msgs {
			if err := s.sendN(c.Context, m); err != nil {
				return s.finish(err)
			}
		}
	} else {
		err = s.sendLines(c.Context, c.App.Reader)
		if err != nil {
			return s.finish(err)
		}
	}
	if o.df && !o.wait {
		return s.finish(dfLingerRead(c.Context, conn, o.dst, o.cap, o.ex))
	}
	return s.finish(nil)
}

// sender sends datagrams on a connected socket and, with --wait, collects
// one reply per datagram.
type sender struct {
	opts   *sendOpts
	conn   *net.UDPConn
	reader *dgram.Reader
	out    io.Writer
	errw   io.Writer
	js     *jsonWriter
	start  time.Time
	buf    []byte   // the datagram being sent, header included
	keys   *keyring // --key-file
	table  *replyTable

	sent, bytes uint64
	// With --wait: replies within their timeout, late ones (after it),
	// datagrams still without a reply, second replies to a datagram, and
	// replies that answer no datagram sent.
	replies, late, silent, dups, unmatched uint64
	maxLate                                time.Duration
}

// stdinUnit is one datagram's worth of stdin: a line (without its line
// ending), a chunk, or all of it; or an error.
type stdinUnit struct {
	data    []byte
	n       int  // the line's or chunk's number, from 1
	tooLong bool // longer than the limit: read whole, and dropped
	err     error
}

// readStdin reads r in units and hands each to out, until EOF, an error,
// or stop: lines (chunk 0, !whole), chunks of chunk bytes, or all of it
// (whole). It runs in a goroutine of its own, because a read on stdin
// cannot be interrupted: sendLines waits on out or on the context.
func readStdin(r io.Reader, limit, chunk int, whole bool, out chan<- stdinUnit, stop <-chan struct{}) {
	defer close(out)
	deliver := func(u stdinUnit) bool {
		select {
		case out <- u:
			return u.err == nil
		case <-stop:
			return false
		}
	}
	switch {
	case whole:
		b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
		deliver(stdinUnit{data: b, n: 1, tooLong: len(b) > limit, err: err})
	case chunk > 0:
		for n := 1; ; n++ {
			buf := make([]byte, chunk)
			k, err := io.ReadFull(r, buf)
			if k > 0 && !deliver(stdinUnit{data: buf[:k], n: n}) {
				return
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				deliver(stdinUnit{n: n, err: err})
				return
			}
		}
	default:
		br := bufio.NewReaderSize(r, 64<<10)
		for n := 1; ; n++ {
			line, tooLong, err := readLine(br, limit)
			if err == io.EOF || !deliver(stdinUnit{data: line, n: n, tooLong: tooLong, err: err}) {
				return
			}
		}
	}
}

// sendLines sends each line of r (without its line ending), each chunk,
// or all of it, as a datagram. Ctrl-C ends it even while stdin has
// nothing to read.
func (s *sender) sendLines(ctx context.Context, r io.Reader) error {
	limit := dgram.MaxPayloadFor(s.opts.dst.Addr())
	units := make(chan stdinUnit)
	stop := make(chan struct{})
	defer close(stop)
	go readStdin(r, limit, s.opts.chunk, s.opts.whole, units, stop)
	what := "line"
	if s.opts.chunk > 0 {
		what = "chunk"
	}
	for {
		var u stdinUnit
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u, ok = <-units:
		}
		if !ok {
			return nil
		}
		if u.err != nil {
			return fmt.Errorf("reading stdin: %w", u.err)
		}
		if u.tooLong && s.opts.whole {
			return usageErr("send", fmt.Sprintf("stdin holds more than %d bytes, the limit of one UDP datagram to %s; nothing was sent (--chunk N sends it in pieces)", limit, s.opts.dst))
		}
		if u.tooLong {
			return usageErr("send", fmt.Sprintf("line %d of stdin is longer than %d bytes, the limit of one UDP datagram to %s; nothing of it was sent", u.n, limit, s.opts.dst))
		}
		m, err := s.opts.shape(u.data)
		if err != nil && s.opts.whole {
			return usageErr("send", fmt.Sprintf("stdin: %v", err))
		}
		if err != nil {
			return usageErr("send", fmt.Sprintf("%s %d of stdin: %v", what, u.n, err))
		}
		if err := s.sendN(ctx, m); err != nil {
			return err
		}
	}
}

// readLine reads one line without its "\n" or "\r\n". A line longer than
// limit is consumed whole and reported as tooLong. io.EOF comes only when
// no bytes are left.
func readLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit+2 {
			tooLong = true
		} else {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(line) == 0 && !tooLong {
			return nil, false, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, false, err
		}
		break
	}
	if tooLong {
		return nil, true, nil
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	if len(line) > limit {
		return nil, true, nil
	}
	if line == nil {
		line = []byte{}
	}
	return line, false, nil
}

// sendN sends m --count times.
func (s *sender) sendN(ctx context.Context, m []byte) error {
	for range s.opts.count {
		if err := s.pace(ctx); err != nil {
			return err
		}
		if err := s.sendOne(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// pace waits until the next send is due on the absolute schedule
// start + sent*interval, so that N sends take N intervals however long each
// sleep oversleeps.
func (s *sender) pace(ctx context.Context) error {
	if s.opts.interval <= 0 || s.sent == 0 {
		return ctx.Err()
	}
	due := s.start.Add(time.Duration(s.sent) * s.opts.interval)
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type sentJSON struct {
	Type  string  `json:"type"`
	To    string  `json:"to"`
	Seq   *uint64 `json:"seq,omitempty"`
	Bytes int     `json:"bytes"`
	payloadJSON
}

type replyJSON struct {
	Type      string  `json:"type"`
	From      string  `json:"from"`
	ReplyTo   *uint64 `json:"reply_to,omitempty"` // the datagram it answers, numbered from 1
	Seq       *uint64 `json:"seq,omitempty"`
	Bytes     int     `json:"bytes"`
	RTTms     float64 `json:"rtt_ms"`
	Late      bool    `json:"late,omitempty"`
	Duplicate bool    `json:"duplicate,omitempty"`
	Unmatched bool    `json:"unmatched,omitempty"`
	payloadJSON
}

func (s *sender) sendOne(ctx context.Context, m []byte) error {
	if s.opts.wait {
		s.drainLate()
	}
	t0 := time.Now()
	s.buf = s.buf[:0]
	if s.opts.seq {
		s.buf = seq.Header{Type: seq.TypeData, Seq: s.sent, Sent: t0.UnixNano()}.Append(s.buf)
	}
	s.buf = append(s.buf, m...)
	wire := s.buf
	if s.keys != nil {
		var err error
		if wire, err = s.keys.seal(s.buf); err != nil {
			return err
		}
	}
	if err := s.write(wire); err != nil {
		return err
	}
	s.opts.cap.sentOn(s.conn, wire)
	q := s.sent
	s.sent++
	s.bytes += uint64(len(s.buf))
	var cur *sentRec
	if s.opts.wait {
		cur = s.table.add(s.buf, t0)
	}
	if s.js != nil {
		o := sentJSON{Type: "sent", To: s.opts.dst.String(), Bytes: len(s.buf), payloadJSON: newPayloadJSON(m)}
		if s.opts.seq {
			o.Seq = &q
		}
		if err := s.js.write(o); err != nil {
			return err
		}
	}
	if !s.opts.wait {
		return nil
	}
	deadline := t0.Add(s.opts.timeout)
	for {
		d, err := s.readReply(ctx, deadline)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, dgram.ErrTimeout):
			cur.state = recExpired
			s.silent++
			fmt.Fprintf(s.errw, "no reply to datagram %d within %v\n", cur.n, s.opts.timeout)
			return nil
		case errors.Is(err, dgram.ErrRefused):
			return fmt.Errorf("no reply from %s: %w", s.opts.dst, err)
		default:
			return err
		}
		r := s.table.match(d.Data, cur)
		if r == nil {
			r = cur // other bytes than were sent: the reply in order
		}
		if err := s.reply(d, r); err != nil || r == cur {
			return err
		}
	}
}

// reply counts and prints reply d to datagram r (nil: to none).
func (s *sender) reply(d dgram.Datagram, r *sentRec) error {
	payload := d.Data
	if s.opts.seq {
		// an echo of a datagram sent with the header: show what follows
		// it, as for the datagram sent ("bytes" stays the whole datagram)
		if _, body, err := seq.Decode(d.Data); err == nil {
			payload = body
		}
	}
	o := replyJSON{Type: "reply", From: d.From.String(), Bytes: len(d.Data), payloadJSON: newPayloadJSON(payload)}
	var rtt time.Duration
	if r != nil {
		rtt = time.Since(r.at)
		o.ReplyTo, o.RTTms = &r.n, float64(rtt.Nanoseconds())/1e6
		if s.opts.seq {
			q := r.n - 1
			o.Seq = &q
		}
	}
	from, size, shown := d.From, plural(uint64(len(d.Data)), "byte"), showPayload(payload)
	var text string
	switch {
	case r == nil:
		s.unmatched++
		o.Unmatched = true
		text = fmt.Sprintf("reply from %s that answers no datagram sent (%s): %s", from, size, shown)
	case r.state == recWaiting:
		r.state = recAnswered
		s.replies++
		text = fmt.Sprintf("reply from %s (%s, %.3f ms): %s", from, size, o.RTTms, shown)
	case r.state == recExpired:
		r.state = recLate
		s.silent--
		s.late++
		s.maxLate = max(s.maxLate, rtt)
		o.Late = true
		text = fmt.Sprintf("late reply from %s to datagram %d (%s, %.3f ms, after its %v timeout): %s", from, r.n, size, o.RTTms, s.opts.timeout, shown)
	default:
		s.dups++
		o.Duplicate = true
		text = fmt.Sprintf("duplicate reply from %s to datagram %d (%s, %.3f ms): %s", from, r.n, size, o.RTTms, shown)
	}
	if s.js != nil {
		return s.js.write(o)
	}
	_, err := fmt.Fprintln(s.out, text)
	return err
}

// readReply reads the next reply, until deadline or the end of ctx; with
// a key, the next one that authenticates (the others are counted and
// skipped).
func (s *sender) readReply(ctx context.Context, deadline time.Time) (dgram.Datagram, error) {
	for {
		d, err := s.reader.ReadContext(ctx, deadline)
		if err == nil {
			s.opts.cap.receivedOn(s.conn, d)
		}
		if err != nil || s.keys == nil || s.keys.open(&d) == seal.None {
			return d, err
		}
	}
}

// drainLate reads, without waiting, the replies that came between two
// waits (late ones, duplicates), so that none is taken for the reply to
// the next datagram.
func (s *sender) drainLate() {
	for range 1024 { // bounded: a flood of replies cannot keep us here
		d, ok, err := s.reader.TryRead()
		if err != nil || !ok {
			return
		}
		s.opts.cap.receivedOn(s.conn, d)
		if s.keys != nil && s.keys.open(&d) != seal.None {
			continue // counted by the opener
		}
		_ = s.reply(d, s.table.match(d.Data, nil))
	}
}

// write sends one datagram. A full socket buffer (ENOBUFS) is retried a
// few times with a growing pause before it is reported; ECONNREFUSED (the
// ICMP answer to an earlier datagram) ends the run.
func (s *sender) write(m []byte) error {
	err := writeRetry(s.conn, m, s.opts.dst.String(), s.opts.ex)
	if errors.Is(err, dgram.ErrRefused) {
		return fmt.Errorf("datagram %d not sent: %w", s.sent+1, err)
	}
	return err
}

// writeRetry writes m on the connected socket c. A full socket buffer
// (ENOBUFS, or EAGAIN from a non-blocking send) is retried with a growing
// pause, ten times over about 100ms, before the classified error is
// returned: the caller reports it, it need not be fatal.
func writeRetry(c *net.UDPConn, m []byte, dst string, ex *explainer) error {
	backoff := 100 * time.Microsecond
	for attempt := 0; ; attempt++ {
		_, err := ex.write(c, m) // c.Write, explained with --explain
		if err == nil {
			return nil
		}
		err = dgram.Classify("send", dst, err)
		if errors.Is(err, dgram.ErrNoBuffers) && attempt < 10 {
			time.Sleep(backoff)
			backoff *= 2
			continue
		}
		return err
	}
}

type sendSummaryJSON struct {
	Type      string  `json:"type"`
	To        string  `json:"to"`
	Sent      uint64  `json:"sent"`
	Bytes     uint64  `json:"bytes"`
	Replies   *uint64 `json:"replies,omitempty"`
	Late      *uint64 `json:"late,omitempty"`
	Silent    *uint64 `json:"no_reply,omitempty"`
	Dups      *uint64 `json:"duplicates,omitempty"`
	Unmatched *uint64 `json:"unmatched,omitempty"`

	Rejected map[string]uint64 `json:"rejected,omitempty"`
}

// finish prints the summary and decides the outcome.
func (s *sender) finish(err error) error {
	if s.opts.df {
		err = dfError(s.conn, s.opts.dst, err)
		if pe := (*pathMTUError)(nil); errors.As(err, &pe) {
			s.opts.ex.pathMTU(s.conn, pe.mtu) // how dfError asked the kernel the path MTU
		}
	}
	if errors.Is(err, context.Canceled) {
		err = nil // Ctrl-C: stop with the summary
	}
	if s.opts.wait && err == nil {
		// A last look for replies that came just after the final timeout.
		s.drainLate()
	}
	if s.js != nil {
		sum := sendSummaryJSON{Type: "summary", To: s.opts.dst.String(), Sent: s.sent, Bytes: s.bytes}
		if s.opts.wait {
			sum.Replies, sum.Late, sum.Silent, sum.Dups, sum.Unmatched = &s.replies, &s.late, &s.silent, &s.dups, &s.unmatched
			if s.keys != nil {
				sum.Rejected = s.keys.opener.Rejected().Map(true)
			}
		}
		if werr := s.js.write(sum); werr != nil && err == nil {
			err = werr
		}
	} else {
		line := fmt.Sprintf("sent %s (%s) to %s", plural(s.sent, "datagram"), plural(s.bytes, "byte"), s.opts.dst)
		if s.opts.wait {
			line += fmt.Sprintf(", %s", plural(s.replies, "reply"))
			if s.late > 0 {
				line += fmt.Sprintf(", %d late", s.late)
			}
			if s.dups > 0 {
				line += fmt.Sprintf(", %s", plural(s.dups, "duplicate"))
			}
			if s.unmatched > 0 {
				line += fmt.Sprintf(", %d matching no datagram", s.unmatched)
			}
			if s.keys != nil && s.keys.opener.Rejected().Total() > 0 {
				line += ", " + rejectedText(s.keys.opener.Rejected()) + " replies"
			}
		}
		if s.keys != nil {
			line += " (sealed)"
		}
		fmt.Fprintln(s.errw, line)
	}
	if err != nil {
		return err
	}
	if s.silent > 0 {
		return fmt.Errorf("no reply to %d of %s within %v: %s stayed silent (%s)",
			s.silent, plural(s.sent, "datagram"), s.opts.timeout, s.opts.dst, silenceHint(s.replies))
	}
	if s.late > 0 {
		return fmt.Errorf("the reply to %d of %s came after the %v timeout (the slowest in %.0f ms): give a longer --timeout",
			s.late, plural(s.sent, "datagram"), s.opts.timeout, float64(s.maxLate.Nanoseconds())/1e6)
	}
	return nil
}
