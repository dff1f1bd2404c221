package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/arq/transfer"
	"github.com/udpchat/udpchat/dgram/guard"
	"github.com/udpchat/udpchat/dgram/pcap"
	"github.com/udpchat/udpchat/dgram/seal"
	"github.com/udpchat/udpchat/dgram/seq"
	"github.com/udpchat/udpchat/dgram/serve"
)

func listenCommand() *cli.Command {
	return &cli.Command{
		Name:      "listen",
		Usage:     "receive datagrams and print them, one line each (recvfrom)",
		ArgsUsage: "[ADDR]",
		Description: "Binds a UDP socket to ADDR (default " + dgram.DefaultListenAddr + ") and prints every datagram\n" +
			"that arrives: sender, size and payload. ADDR may be HOST:PORT, [IPv6]:PORT, a port alone\n" +
			"(on 127.0.0.1), or :PORT for every interface. Port 0 picks a free port. Ctrl-C ends it\n" +
			"with a summary. With --count and --timeout together, running out of time before N\n" +
			"datagrams is a failure (exit 1).\n\n" +
			"With --seq, each datagram must start with the 20-byte sequence header (udpchat send\n" +
			"--seq writes it): every line says what happened to it (in-order, gap: #N missing, late\n" +
			"by N, duplicate, stale, restart, malformed, suspect) and the summary counts, per sender,\n" +
			"what was lost, reordered and duplicated, with the RFC 3550 jitter. Losses after the last\n" +
			"datagram received cannot be seen by a receiver alone. A datagram far from its sender's\n" +
			"sequence (RFC 3550 probation) is suspect, and counted only once the next one follows it.\n\n" +
			"With --reliable, it accepts transfers from `send --reliable` (arq): messages are printed\n" +
			"as they arrive, once and in order; with --output FILE it receives one transfer into FILE,\n" +
			"written to a temporary file and renamed into place only once its SHA-256 verified, and\n" +
			"exits 0, or 1 if the transfer failed (leaving nothing under FILE).\n\n" +
			"--echo answers through a guard, so that it cannot be used as a reflector: never to source\n" +
			"port 0 or to the ports of other reflecting services (--echo-block), at most --echo-rate\n" +
			"replies a second per source address and --echo-total in all (token buckets), and not to\n" +
			"a source that keeps sending back what we answered at once, faster than any person or\n" +
			"paced sender (another echo server: --echo-loop times within --echo-loop-gap of our reply).\n" +
			"The summary counts what it suppressed.\n\n" +
			"With --key-file (or UDPCHAT_KEY), every datagram must be sealed under that key (udpchat\n" +
			"keygen): anything else is rejected with its cause (unsealed, bad tag, replay, stale,\n" +
			"unknown session), shown, counted, never delivered and never echoed; --count counts only\n" +
			"the datagrams that authenticated. Echoes are sealed too.\n\n" +
			"Examples:\n" +
			"  udpchat listen                          # 127.0.0.1:9000\n" +
			"  udpchat listen :9000 --echo             # an echo server on every interface\n" +
			"  udpchat listen [::1]:9000 --json --count 3\n" +
			"  udpchat listen --seq --rcvbuf 4M        # then: udpchat send 127.0.0.1:9000 --seq --count 1000 --size 64\n" +
			"  udpchat listen --reliable --output copy.bin   # then: udpchat send 127.0.0.1:9000 --file original.bin",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "echo", Aliases: []string{"e"}, Usage: "send every datagram back to its sender"},
			&cli.IntFlag{Name: "count", Aliases: []string{"c", "W"}, Usage: "exit after `N` datagrams, malformed ones included; with a key, authentic ones (0: no limit)"},
			&cli.GenericFlag{Name: "timeout", Aliases: []string{"w"}, Value: &durationValue{}, Usage: "exit after `D` with nothing received, e.g. 5s (0: no limit)"},
			&cli.BoolFlag{Name: "seq", Usage: "decode the sequence header, track loss, reordering and duplicates per sender"},
			&cli.GenericFlag{Name: "rcvbuf", Value: &sizeValue{}, Usage: "ask for a socket receive buffer of `BYTES` (SO_RCVBUF, e.g. 4M) and report what was granted"},
			&cli.BoolFlag{Name: "reliable", Usage: "accept reliable transfers (arq) from send --reliable"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "with --reliable, receive one transfer into `FILE`, or into a directory under the sender's file name (in place once verified)"},
			&cli.BoolFlag{Name: "force", Usage: "with --output, replace an existing file"},
			&cli.GenericFlag{Name: "idle", Value: &durationValue{d: arq.DefaultIdleTimeout}, Usage: "with --reliable, give up on a peer silent for `D`"},
			&cli.BoolFlag{Name: "hex", Usage: "hex dump each payload"},
			&cli.BoolFlag{Name: "raw", Usage: "write the payloads alone to stdout, bytes as they are (listen > file); every status line to stderr"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON lines: one object per datagram and a summary"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show on each line the address the datagram was sent to and its TTL (hop limit)"},
			keyFileFlag(),
			pcapFlag(),
			explainFlag(),
			&cli.Float64Flag{Name: "echo-rate", Value: guard.DefaultPerSource, Usage: "with --echo, answer each source address at most `N` times a second (a burst of N; 0: no limit)"},
			&cli.Float64Flag{Name: "echo-total", Value: guard.DefaultTotal, Usage: "with --echo, answer at most `N` datagrams a second in all (0: no limit)"},
			&cli.StringFlag{Name: "echo-block", Value: portList(guard.DefaultBlockedPorts), Usage: "with --echo, never answer these source `PORTS` (comma-separated; \"none\"); port 0 never is"},
			&cli.IntFlag{Name: "echo-loop", Value: guard.DefaultLoopLimit, Usage: "with --echo, stop answering a source that sends back what we answered at once `N` times in a row"},
			&cli.GenericFlag{Name: "echo-loop-gap", Value: &durationValue{d: guard.DefaultLoopGap}, Usage: "with --echo, a datagram equal to our reply that comes back within `D` of it is a bounce (a loop)"},
		},
		Action: runListen,
	}
}

// listenOpts holds listen's validated flags.
type listenOpts struct {
	addr     string
	echo     bool
	count    uint64
	timeout  time.Duration
	seq      bool
	rcvbuf   int
	hex      bool
	raw      bool
	json     bool
	verbose  bool
	reliable bool
	output   string
	force    bool
	idle     time.Duration
	key      *seal.Key
	cap      *capture   // --pcap
	ex       *explainer // --explain
	guard    guard.Config
}

func parseListenOpts(c *cli.Context) (*listenOpts, error) {
	if c.NArg() > 1 {
		return nil, usagef(c, "listen takes one address, got %d arguments: %q", c.NArg(), c.Args().Slice())
	}
	o := &listenOpts{
		addr:     c.Args().First(),
		echo:     c.Bool("echo"),
		timeout:  durationFlag(c, "timeout"),
		seq:      c.Bool("seq"),
		hex:      c.Bool("hex"),
		raw:      c.Bool("raw"),
		json:     c.Bool("json"),
		verbose:  c.Bool("verbose"),
		reliable: c.Bool("reliable"),
		output:   c.String("output"),
		force:    c.Bool("force"),
		idle:     durationFlag(c, "idle"),
	}
	if o.idle < 100*time.Millisecond {
		return nil, usagef(c, "--idle must be at least 100ms")
	}
	if err := refuseUnless(c, o.reliable, "needs --reliable: it is how long arq waits for a silent sender (--timeout ends listen when nothing arrives)", "idle"); err != nil {
		return nil, err
	}
	if err := refuseUnless(c, !o.raw, "does not go with --raw, which writes the payloads alone (--reliable --output FILE saves a transfer)", "json", "hex", "verbose", "reliable"); err != nil {
		return nil, err
	}
	if o.output != "" && c.IsSet("count") {
		return nil, usagef(c, "--count counts messages; with --output, listen receives one transfer and exits")
	}
	if o.force && o.output == "" {
		return nil, usagef(c, "--force needs --output: it lets a transfer replace an existing file")
	}
	if c.Bool("explain") && o.reliable {
		return nil, usagef(c, "--explain does not go with --reliable: it explains the datagrams of listen, send, chat and ping")
	}
	if o.output != "" && !o.reliable {
		return nil, usagef(c, "--output needs --reliable: only a reliable transfer can be saved whole")
	}
	if o.reliable {
		for _, f := range []string{"seq", "echo", "hex", "verbose"} {
			if c.IsSet(f) {
				return nil, usagef(c, "--%s does not go with --reliable", f)
			}
		}
		if o.output != "" {
			if err := (transfer.Destination{Output: o.output, Force: o.force}).Check(); err != nil {
				return nil, usagef(c, "--output: %v", err)
			}
		}
	}
	if n := c.Int("count"); n < 0 {
		return nil, usagef(c, "--count must be 0 or more, got %d", n)
	} else {
		o.count = uint64(n)
	}
	if n, set := sizeFlag(c, "rcvbuf"); set {
		if n < 1 || n > 1<<30 {
			return nil, usagef(c, "--rcvbuf must be from 1 byte to 1G, got %d", n)
		}
		o.rcvbuf = int(n)
	}
	if o.hex && o.json {
		return nil, usagef(c, "--hex and --json do not go together: JSON carries the payload in \"data\" or \"data_hex\"")
	}
	if o.verbose && o.json {
		return nil, usagef(c, "--verbose does nothing with --json: every datagram object already carries \"to\" and \"ttl\"")
	}
	if _, _, _, err := dgram.ParseListenAddr(o.addr); err != nil {
		return nil, err
	}
	g, err := guardConfig(c)
	if err != nil {
		return nil, err
	}
	o.guard = g
	if o.key, err = loadKey(c); err != nil {
		return nil, err
	}
	return o, nil
}

// guardConfig reads the --echo-* flags.
func guardConfig(c *cli.Context) (guard.Config, error) {
	var g guard.Config
	for _, f := range []string{"echo-rate", "echo-total", "echo-block", "echo-loop", "echo-loop-gap"} {
		if c.IsSet(f) && !c.Bool("echo") {
			return g, usagef(c, "--%s needs --echo", f)
		}
	}
	rate, total := c.Float64("echo-rate"), c.Float64("echo-total")
	if !(rate >= 0 && total >= 0) || math.IsInf(rate, 0) || math.IsInf(total, 0) {
		return g, usagef(c, "--echo-rate and --echo-total are replies a second: a finite number, 0 (no limit) or more")
	}
	g.PerSource, g.Total = rate, total
	if rate == 0 {
		g.PerSource = -1
	}
	if total == 0 {
		g.Total = -1
	}
	ports, err := parsePortList(c.String("echo-block"))
	if err != nil {
		return g, usagef(c, "--echo-block: %v", err)
	}
	g.Blocked = ports
	if n := c.Int("echo-loop"); n < 1 {
		return g, usagef(c, "--echo-loop must be at least 1, got %d", n)
	} else {
		g.LoopLimit = n
	}
	if g.LoopGap = durationFlag(c, "echo-loop-gap"); g.LoopGap <= 0 {
		return g, usagef(c, "--echo-loop-gap must be more than 0")
	}
	return g, nil
}

// portList formats ports as --echo-block takes them.
func portList(ports []uint16) string {
	var b []byte
	for i, p := range ports {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(p), 10)
	}
	return string(b)
}

// parsePortList reads "7,19,53" or "none".
func parsePortList(s string) ([]uint16, error) {
	ports := []uint16{}
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return ports, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a port from 1 to 65535 (give a comma-separated list, or \"none\")", f)
		}
		ports = append(ports, uint16(n))
	}
	return ports, nil
}

// listenMemoryLimit is the soft memory limit listen runs under unless
// GOMEMLIMIT says otherwise. Its tables are bounded (senders, sessions,
// echo buckets: about 20 MiB when all are full); the limit makes the
// garbage collector work harder before the heap's usual doubling takes
// a flooded listener past it.
const listenMemoryLimit = 32 << 20

func runListen(c *cli.Context) (err error) {
	o, err := parseListenOpts(c)
	if err != nil {
		return err
	}
	if o.cap, err = openCapture(c); err != nil {
		return err
	}
	defer closeCapture(o.cap, &err)
	if os.Getenv("GOMEMLIMIT") == "" {
		old := debug.SetMemoryLimit(listenMemoryLimit)
		defer debug.SetMemoryLimit(old)
	}
	bound, err := dgram.ResolveListen(c.Context, o.addr)
	if err != nil {
		return err
	}
	conn, err := dgram.ListenAddrPort(bound)
	if err != nil {
		return err
	}
	defer conn.Close()
	o.ex = newExplainer(c)
	o.ex.opened(conn, false, bound)
	defer o.ex.close()
	stderr := c.App.ErrWriter
	bw := bufio.NewWriterSize(c.App.Writer, 64<<10)
	l := &listener{opts: o, conn: conn, out: bw, bw: bw, errw: stderr, senders: newAddrSet(maxSendersCounted)}
	if o.rcvbuf > 0 {
		got, _, err := dgram.SetBuffers(conn, o.rcvbuf, 0)
		if err != nil {
			return fmt.Errorf("setting SO_RCVBUF: %w", err)
		}
		o.ex.buffers(conn, o.rcvbuf, got)
		l.rcvbuf = got
		fmt.Fprintf(stderr, "SO_RCVBUF: asked for %d bytes, the kernel granted %d (Linux doubles the request for its bookkeeping and caps it at net.core.rmem_max)\n", o.rcvbuf, got)
	}
	if o.reliable {
		fmt.Fprintf(stderr, "listening on %s (UDP), accepting reliable transfers; Ctrl-C to stop\n", dgram.LocalAddrPort(conn))
		err := runListenReliable(c.Context, o, conn, c.App.Writer, stderr)
		return err
	}
	if o.seq {
		l.tracker = seq.NewTracker(seq.Config{})
	}
	if l.keys, err = newKeyring(o.key); err != nil {
		return err
	}
	if o.echo {
		l.guard = guard.New(o.guard)
	}
	if o.json {
		l.js = newJSONWriter(bw)
	}
	what := ""
	if o.seq {
		what += ", tracking sequence numbers"
	}
	if o.echo {
		what += ", echoing"
	}
	if l.keys != nil {
		what += ", sealed"
	}
	fmt.Fprintf(stderr, "listening on %s (UDP)%s; Ctrl-C to stop\n", dgram.LocalAddrPort(conn), what)

	runErr := l.serve(c.Context)
	if o.raw {
		// The payloads are stdout's; the summary is status: stderr.
		if err := bw.Flush(); err != nil && runErr == nil {
			runErr = err
		}
		l.out = stderr
	}
	if l.srv != nil {
		o.ex.meminfo(conn) // the summary reads the drop counter
	}
	if err := l.summary(); err != nil && runErr == nil {
		runErr = err
	}
	if err := bw.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// listener renders what `udpchat listen` receives; the serve loop itself
// (batched reads, idle timeout, count, echo through the guard and the
// seal, replies from the contacted address) is a serve.Server.
type listener struct {
	opts    *listenOpts
	conn    *net.UDPConn
	srv     *serve.Server
	tracker *seq.Tracker
	ev      seq.Event
	out     io.Writer
	bw      *bufio.Writer // out, flushed by the server at most every flushEvery during bursts
	errw    io.Writer
	js      *jsonWriter
	rcvbuf  int

	keys  *keyring     // --key-file
	guard *guard.Guard // --echo

	line []byte // the line being formatted, reused

	datagrams, bytes, truncated uint64
	senders                     *addrSet
}

// flushEvery bounds how long output waits in the buffer during a burst of
// datagrams. A datagram that comes alone is printed at once; in a burst,
// lines are written in batches, so printing does not limit the receive
// rate.
const flushEvery = 20 * time.Millisecond

// serve runs the server until ctx ends (nil: interrupted, the summary
// follows), --count, --timeout or an error.
func (l *listener) serve(ctx context.Context) error {
	o := l.opts
	l.srv = &serve.Server{Conn: l.conn, Handler: l, IdleTimeout: o.timeout, Count: o.count, FlushEvery: flushEvery,
		ConnConfig: dgram.ConnConfig{TTL: o.json || o.verbose}, Guard: l.guard}
	if l.keys != nil {
		l.srv.Opener, l.srv.Sealer = l.keys.opener, l.keys.sealer
		l.srv.Rejected = func(r *serve.Request, c seal.Cause) error { return l.printRejected(datagramOf(r), c) }
	}
	warned := false
	l.srv.ReplyError = func(err error, failed int) {
		if !warned {
			warned = true
			fmt.Fprintf(l.errw, "warning: echo failed: %v (further failures are only counted)\n", err)
		}
	}
	l.srv.ConnConfig.Tracer = o.ex.tracer() // --explain
	if o.ex != nil {
		eff := l.srv.ConnConfig // what the server (or --pcap, below) asks dgram.NewConn for
		eff.Dst, eff.TTL = true, eff.TTL || o.cap != nil
		if o.count > 0 {
			eff.GRO = false
		}
		l.srv.NotifyStartedFunc = func() { o.ex.connOptions(l.conn, eff) }
	}
	if o.cap != nil {
		// --pcap: the server reads and writes through a recording
		// BatchConn, with the options it would have set itself, and the
		// TTL for the capture
		cfg := l.srv.ConnConfig
		cfg.Dst, cfg.TTL = true, true
		bc, err := dgram.NewConn(l.conn, cfg)
		if err != nil {
			return err
		}
		l.srv.Conn = pcap.NewConn(bc, o.cap.w, 0)
	}
	stop := context.AfterFunc(ctx, func() { _ = l.srv.Shutdown(context.Background()) })
	defer stop()
	err := l.srv.ActivateAndServe()
	switch {
	case errors.Is(err, serve.ErrServerClosed):
		return nil // interrupted before it began
	case errors.Is(err, serve.ErrIdle):
		if o.count > 0 {
			return fmt.Errorf("no datagram for %v: received %d of the %d datagrams --count asked for", o.timeout, l.datagrams, o.count)
		}
		return nil
	}
	return err
}

// ServeDatagram prints (and with --echo answers) one datagram.
func (l *listener) ServeDatagram(w serve.ResponseWriter, r *serve.Request) error {
	if err := l.handle(datagramOf(r), r.Time); err != nil {
		return err
	}
	if l.opts.echo {
		_, _ = w.Write(r.Data) // the guard's refusals and failures are counted by the server
	}
	return nil
}

// Flush writes the buffered lines.
func (l *listener) Flush() error { return l.bw.Flush() }

// datagramOf is the datagram a request carries.
func datagramOf(r *serve.Request) dgram.Datagram {
	return dgram.Datagram{Data: r.Data, From: r.From, To: r.To, IfIndex: r.IfIndex, TTL: r.TTL, Truncated: r.Truncated}
}

func (l *listener) handle(d dgram.Datagram, now time.Time) error {
	l.datagrams++
	l.bytes += uint64(len(d.Data))
	l.senders.add(d.From)
	if d.Truncated {
		l.truncated++
	}
	if l.opts.raw {
		return l.printRaw(d, now)
	}
	if l.tracker != nil {
		l.tracker.ObserveTo(&l.ev, d.From, d.Data, now)
		return l.printSeq(d, &l.ev)
	}
	return l.print(d)
}

func (l *listener) print(d dgram.Datagram) error {
	b := l.line[:0]
	if l.js != nil {
		b = append(b, `{"type":"datagram","from":"`...)
		b = d.From.AppendTo(b)
		b = append(b, '"')
		b = appendToTTL(b, d)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, int64(len(d.Data)), 10)
		if d.Truncated {
			b = append(b, `,"truncated":true`...)
		}
		b = append(b, ',')
		b = appendJSONPayload(b, d.Data)
		b = append(b, "}\n"...)
	} else {
		b = l.appendFrom(b, d)
		b = l.appendTail(b, d, d.Data)
	}
	l.line = b
	_, err := l.out.Write(b)
	return err
}

// appendToTTL adds a datagram object's "to" and "ttl", when known.
func appendToTTL(b []byte, d dgram.Datagram) []byte {
	if d.To.IsValid() {
		b = append(b, `,"to":"`...)
		b = d.To.AppendTo(b)
		b = append(b, '"')
	}
	if d.TTL > 0 {
		b = append(b, `,"ttl":`...)
		b = strconv.AppendInt(b, int64(d.TTL), 10)
	}
	return b
}

// appendFrom begins a text line: the sender and, with --verbose, the
// address it wrote to and the TTL ("127.0.0.1:53211 -> 127.0.0.2:9000 ttl
// 64").
func (l *listener) appendFrom(b []byte, d dgram.Datagram) []byte {
	b = d.From.AppendTo(b)
	if !l.opts.verbose {
		return b
	}
	if d.To.IsValid() {
		b = append(b, " -> "...)
		b = d.To.AppendTo(b)
	}
	if d.TTL > 0 {
		b = append(b, " ttl "...)
		b = strconv.AppendInt(b, int64(d.TTL), 10)
	}
	return b
}

// appendTail ends a text line: " (N bytes[, truncated]): payload", the
// payload shown as text or, with --hex, dumped on the lines below.
func (l *listener) appendTail(b []byte, d dgram.Datagram, payload []byte) []byte {
	b = append(b, " ("...)
	b = appendCount(b, len(d.Data), "byte")
	if d.Truncated {
		b = append(b, ", truncated"...)
	}
	b = append(b, "):"...)
	if l.opts.hex {
		b = append(b, '\n')
		return append(b, hexDump(payload, "  ")...)
	}
	b = append(b, ' ')
	b = appendShown(b, payload)
	return append(b, '\n')
}

// printRejected shows a datagram that did not authenticate: who sent it,
// why it was refused, its size; never its content.
func (l *listener) printRejected(d dgram.Datagram, c seal.Cause) error {
	b := l.line[:0]
	if l.js != nil {
		b = append(b, `{"type":"rejected","from":"`...)
		b = d.From.AppendTo(b)
		b = append(b, '"')
		b = appendToTTL(b, d)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, int64(len(d.Data)), 10)
		b = append(b, `,"cause":"`...)
		b = append(b, c.String()...)
		b = append(b, "\"}\n"...)
	} else {
		b = l.appendFrom(b, d)
		b = append(b, " rejected: "...)
		b = append(b, c.String()...)
		b = append(b, ": "...)
		b = append(b, causeText(c)...)
		b = append(b, " ("...)
		b = appendCount(b, len(d.Data), "byte")
		b = append(b, ")\n"...)
	}
	l.line = b
	w := l.out
	if l.opts.raw {
		w = l.errw // a status line, not a payload
	}
	_, err := w.Write(b)
	return err
}

// maxMissingListed caps the seq numbers listed for one gap.
const maxMissingListed = 100

func (l *listener) printSeq(d dgram.Datagram, ev *seq.Event) error {
	b := l.line[:0]
	if l.js != nil {
		b = append(b, `{"type":"datagram","from":"`...)
		b = d.From.AppendTo(b)
		b = append(b, '"')
		b = appendToTTL(b, d)
		if ev.Kind != seq.Malformed {
			b = append(b, `,"seq":`...)
			b = strconv.AppendUint(b, ev.Header.Seq, 10)
		}
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, int64(len(d.Data)), 10)
		b = append(b, `,"event":"`...)
		b = append(b, ev.Kind.String()...)
		b = append(b, '"')
		if ev.Missing > 0 {
			b = append(b, `,"missing":[`...)
			for i := uint64(0); i < min(ev.Missing, maxMissingListed); i++ {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, ev.MissingFrom+i, 10)
			}
			b = append(b, `],"missing_count":`...)
			b = strconv.AppendUint(b, ev.Missing, 10)
		}
		if ev.Kind == seq.Late {
			b = append(b, `,"extent":`...)
			b = strconv.AppendUint(b, ev.Extent, 10)
			if ev.ExtentCapped {
				b = append(b, `,"extent_is_lower_bound":true`...)
			}
		}
		if ev.Kind == seq.Malformed {
			b = append(b, `,"cause":"`...)
			b = append(b, ev.Cause()...)
			b = append(b, '"')
		}
		if d.Truncated {
			b = append(b, `,"truncated":true`...)
		}
		b = append(b, ',')
		b = appendJSONPayload(b, ev.Payload)
		b = append(b, "}\n"...)
		l.line = b
		_, err := l.out.Write(b)
		return err
	}
	b = l.appendFrom(b, d)
	b = append(b, ' ')
	if ev.Kind != seq.Malformed {
		b = append(b, '#')
		b = strconv.AppendUint(b, ev.Header.Seq, 10)
		b = append(b, ' ')
	}
	switch ev.Kind {
	case seq.Malformed:
		b = append(b, "malformed: "...)
		b = append(b, malformedText(ev)...)
	case seq.Gap:
		b = append(b, "gap: "...)
		b = appendMissing(b, ev.MissingFrom, ev.Missing)
	case seq.Late:
		b = append(b, "late by "...)
		b = strconv.AppendUint(b, ev.Extent, 10)
		if ev.ExtentCapped {
			b = append(b, " or more"...)
		}
	case seq.Stale:
		b = fmt.Appendf(b, "stale: older than the %d-datagram duplicate window", l.tracker.Config().Window)
	case seq.Suspect:
		b = append(b, "suspect: far from this sender's sequence, counted only if the next datagram follows it"...)
	case seq.Restart:
		b = append(b, "restart: the sender began a new session"...)
		if ev.Missing > 0 {
			b = append(b, "; "...)
			b = appendMissing(b, ev.MissingFrom, ev.Missing)
		}
	default:
		b = append(b, ev.Kind.String()...)
	}
	b = l.appendTail(b, d, ev.Payload)
	l.line = b
	_, err := l.out.Write(b)
	return err
}

func malformedText(ev *seq.Event) string {
	switch ev.Cause() {
	case "short":
		return fmt.Sprintf("shorter than the %d-byte header", seq.HeaderLen)
	case "bad magic":
		return "does not start with the header's magic \"dg\""
	case "unknown version":
		return fmt.Sprintf("header version %d, not %d", ev.Payload[2], seq.Version)
	case "unknown type":
		return fmt.Sprintf("header type %d is not data (0)", ev.Payload[3])
	}
	return ev.Cause()
}

// appendMissing lists a gap's missing seqs as the lines name seqs, "#5
// #6 missing", or a range, "#6-#19 missing (14 datagrams)": never a bare
// number, which would read as a count ("0 missing" when seq 0 is).
func appendMissing(b []byte, from, n uint64) []byte {
	if n > 10 {
		return fmt.Appendf(b, "#%d-#%d missing (%d datagrams)", from, from+n-1, n)
	}
	for i := uint64(0); i < n; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, '#')
		b = strconv.AppendUint(b, from+i, 10)
	}
	return append(b, " missing"...)
}

// listenSummaryJSON is listen --json's closing object. It describes the
// whole run, so it has no "peer" (per-sender summaries of --seq do).
type listenSummaryJSON struct {
	Type          string  `json:"type"`
	Datagrams     uint64  `json:"datagrams"`
	Bytes         uint64  `json:"bytes"`
	Senders       int     `json:"senders"`
	SendersCapped bool    `json:"senders_capped,omitempty"`
	Echoed        uint64  `json:"echoed"`
	EchoErrors    uint64  `json:"echo_errors,omitempty"`
	Truncated     uint64  `json:"truncated"`
	Malformed     *uint64 `json:"malformed,omitempty"`
	Evicted       *uint64 `json:"evicted_senders,omitempty"`
	RcvbufDrops   *uint64 `json:"rcvbuf_drops,omitempty"`
	Rcvbuf        int     `json:"rcvbuf_bytes,omitempty"`

	EchoSuppressed map[string]uint64 `json:"echo_suppressed,omitempty"`
	Authenticated  *uint64           `json:"authenticated,omitempty"`
	Rejected       map[string]uint64 `json:"rejected,omitempty"`
}

// senderSummaryJSON is the per-sender summary of listen --seq --json.
type senderSummaryJSON struct {
	Type       string  `json:"type"`
	Peer       string  `json:"peer"`
	Received   uint64  `json:"received"`
	Unique     uint64  `json:"unique"`
	Expected   uint64  `json:"expected"`
	Lost       uint64  `json:"lost"`
	LossPct    float64 `json:"loss_pct"`
	Duplicates uint64  `json:"duplicates"`
	Reordered  uint64  `json:"reordered"`
	MaxExtent  uint64  `json:"max_extent"`
	Stale      uint64  `json:"stale"`
	Restarts   uint64  `json:"restarts"`
	Malformed  uint64  `json:"malformed"`
	JitterMs   float64 `json:"jitter_ms"`
	Suspect    uint64  `json:"suspect"` // on probation, never confirmed
	Skewed     uint64  `json:"skewed"`  // send time too far from our clock: not used for jitter

	Rejected map[string]uint64 `json:"rejected,omitempty"`
}

func lossPct(lost, expected uint64) float64 {
	if expected == 0 {
		return 0
	}
	return float64(lost) * 100 / float64(expected)
}

func (l *listener) summary() error {
	var drops *uint64
	var st serve.Stats
	if l.srv != nil {
		st = l.srv.Stats()
		if st.DropsKnown {
			drops = &st.RcvbufDrops
		} else if n, ok := dgram.KernelDrops(l.conn); ok && l.opts.cap != nil {
			drops = &n // the server read through --pcap's recorder
		}
	}
	echoed, echoErrs := st.Replies, st.ReplyErrors
	if l.js != nil {
		sum := listenSummaryJSON{Type: "summary", Datagrams: l.datagrams, Bytes: l.bytes,
			Senders: l.senders.len(), SendersCapped: l.senders.full, Echoed: echoed, EchoErrors: echoErrs,
			Truncated: l.truncated, RcvbufDrops: drops, Rcvbuf: l.rcvbuf}
		if l.guard != nil {
			sum.EchoSuppressed = suppressedMap(l.guard)
		}
		if l.keys != nil {
			n, r := l.keys.opener.Accepted(), l.keys.opener.Rejected()
			sum.Authenticated, sum.Rejected = &n, r.Map(true)
		}
		if l.tracker != nil {
			for _, s := range l.tracker.Senders() {
				sj := senderJSON(s)
				if l.keys != nil {
					if p, ok := l.keys.peer(s.Peer); ok {
						sj.Rejected = p.Rejected.Map(true)
					}
				}
				if err := l.js.write(sj); err != nil {
					return err
				}
			}
			tot := l.tracker.Totals()
			ev := tot.Evicted + tot.EvictedMalformed
			sum.Malformed, sum.Evicted = &tot.Malformed, &ev
		}
		return l.js.write(sum)
	}
	if l.tracker != nil {
		if err := l.seqSummary(); err != nil {
			return err
		}
	}
	senders := plural(uint64(l.senders.len()), "sender")
	if l.senders.full {
		senders = fmt.Sprintf("%d or more senders", l.senders.len())
	}
	s := fmt.Sprintf("received %s (%s) from %s", plural(l.datagrams, "datagram"), plural(l.bytes, "byte"), senders)
	if l.opts.echo {
		s += fmt.Sprintf(", echoed %d", echoed)
		if echoErrs > 0 {
			s += fmt.Sprintf(" (%d echoes failed)", echoErrs)
		}
		if n := l.guard.Suppressed(); n > 0 {
			s += ", " + suppressedText(l.guard)
		}
	}
	if l.truncated > 0 {
		s += fmt.Sprintf(", %d truncated", l.truncated)
	}
	if _, err := fmt.Fprintln(l.out, s); err != nil {
		return err
	}
	if l.keys != nil {
		if _, err := fmt.Fprintf(l.out, "sealed: %d authenticated, %s\n", l.keys.opener.Accepted(), rejectedText(l.keys.opener.Rejected())); err != nil {
			return err
		}
	}
	if drops != nil && *drops > 0 {
		buf := ""
		if l.rcvbuf > 0 {
			buf = fmt.Sprintf(" of %d bytes", l.rcvbuf)
		}
		_, err := fmt.Fprintf(l.out, "kernel: %s dropped because the socket's receive buffer%s was full: this receiver did not keep up, that is not network loss (--rcvbuf gives it more room)\n",
			plural(*drops, "datagram"), buf)
		return err
	}
	if drops != nil && l.tracker != nil {
		_, err := fmt.Fprintln(l.out, "kernel: no datagram dropped for a full receive buffer")
		return err
	}
	return nil
}

func senderJSON(s seq.Stats) senderSummaryJSON {
	return senderSummaryJSON{Type: "summary", Peer: s.Peer.String(), Received: s.Received, Unique: s.Unique,
		Expected: s.Expected, Lost: s.Lost, LossPct: lossPct(s.Lost, s.Expected), Duplicates: s.Duplicates,
		Reordered: s.Reordered, MaxExtent: s.MaxExtent, Stale: s.Stale, Restarts: s.Restarts,
		Malformed: s.Malformed, JitterMs: s.JitterMs(), Suspect: s.Suspect, Skewed: s.Skewed}
}

// seqSummary prints the per-sender table of listen --seq.
func (l *listener) seqSummary() error {
	tw := newTable(l.out)
	tw.row("sender", "received", "unique", "expected", "lost", "dup", "late", "malformed", "jitter")
	var notes []string
	for _, s := range l.tracker.Senders() {
		tw.row(s.Peer.String(), s.Received, s.Unique, s.Expected,
			fmt.Sprintf("%d (%.1f%%)", s.Lost, lossPct(s.Lost, s.Expected)),
			s.Duplicates, s.Reordered, s.Malformed, fmt.Sprintf("%.3f ms", s.JitterMs()))
		if s.MaxExtent > 0 || s.Stale > 0 || s.Restarts > 0 {
			notes = append(notes, fmt.Sprintf("%s: late by up to %d arrivals, %d stale, %s",
				s.Peer, s.MaxExtent, s.Stale, plural(s.Restarts, "restart")))
		}
		if s.Suspect > 0 || s.Skewed > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d suspect (far from its sequence, never confirmed: not counted), %d with a send time over %v from this clock (not used for jitter)",
				s.Peer, s.Suspect, s.Skewed, l.tracker.Config().MaxClockSkew))
		}
		if l.keys != nil {
			if p, ok := l.keys.peer(s.Peer); ok && p.Rejected.Total() > 0 {
				notes = append(notes, fmt.Sprintf("%s: %s", s.Peer, rejectedText(p.Rejected)))
			}
		}
	}
	if err := tw.flush(); err != nil {
		return err
	}
	tot := l.tracker.Totals()
	if tot.Evicted+tot.EvictedMalformed > 0 {
		notes = append(notes, fmt.Sprintf("%d senders were evicted from the full table (their counts are not shown)", tot.Evicted+tot.EvictedMalformed))
	}
	notes = append(notes, "lost counts only gaps below the highest seq received: losses after the last datagram cannot be seen by a receiver alone")
	for _, n := range notes {
		if _, err := fmt.Fprintln(l.out, n); err != nil {
			return err
		}
	}
	return nil
}

// maxSendersCounted bounds the set of distinct senders listen remembers for
// its summary; past it the count is reported as a lower bound.
const maxSendersCounted = 1 << 16

// addrSet is a set of addresses with a fixed capacity.
type addrSet struct {
	m    map[netip.AddrPort]struct{}
	max  int
	full bool
}

func newAddrSet(max int) *addrSet { return &addrSet{m: make(map[netip.AddrPort]struct{}), max: max} }

func (s *addrSet) add(a netip.AddrPort) {
	if _, ok := s.m[a]; ok {
		return
	}
	if len(s.m) >= s.max {
		s.full = true
		return
	}
	s.m[a] = struct{}{}
}

func (s *addrSet) len() int { return len(s.m) }

// suppressedMap is the guard's refusals by reason, for JSON.
func suppressedMap(g *guard.Guard) map[string]uint64 {
	c := g.Counts()
	m := make(map[string]uint64, guard.NumVerdicts)
	for v := guard.PortZero; v < guard.NumVerdicts; v++ {
		m[v.Key()] = c[v]
	}
	return m
}

// suppressedText is the guard's refusals in words.
func suppressedText(g *guard.Guard) string {
	c := g.Counts()
	var parts []string
	for v := guard.PortZero; v < guard.NumVerdicts; v++ {
		if c[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[v], v))
		}
	}
	return fmt.Sprintf("%d not echoed by the reflection guard (%s)", g.Suppressed(), strings.Join(parts, ", "))
}
