package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
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
			"Examples:\n" +
			"  udpchat listen                          # 127.0.0.1:9000\n" +
			"  udpchat listen :9000 --echo             # an echo server on every interface\n" +
			"  udpchat listen [::1]:9000 --json --count 3",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "echo", Aliases: []string{"e"}, Usage: "send every datagram back to its sender"},
			&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Usage: "exit after `N` datagrams (0: no limit)"},
			&cli.GenericFlag{Name: "timeout", Aliases: []string{"t"}, Value: &durationValue{}, Usage: "exit after `D` with nothing received, e.g. 5s (0: no limit)"},
			&cli.BoolFlag{Name: "hex", Aliases: []string{"x"}, Usage: "hex dump each payload"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON lines: one object per datagram and a summary"},
		},
		Action: runListen,
	}
}

// listenOpts holds listen's validated flags.
type listenOpts struct {
	addr    string
	echo    bool
	count   uint64
	timeout time.Duration
	hex     bool
	json    bool
}

func parseListenOpts(c *cli.Context) (*listenOpts, error) {
	if c.NArg() > 1 {
		return nil, usagef(c, "listen takes one address, got %d arguments: %q", c.NArg(), c.Args().Slice())
	}
	o := &listenOpts{
		addr:    c.Args().First(),
		echo:    c.Bool("echo"),
		timeout: durationFlag(c, "timeout"),
		hex:     c.Bool("hex"),
		json:    c.Bool("json"),
	}
	if n := c.Int("count"); n < 0 {
		return nil, usagef(c, "--count must be 0 or more, got %d", n)
	} else {
		o.count = uint64(n)
	}
	if o.hex && o.json {
		return nil, usagef(c, "--hex and --json do not go together: JSON carries the payload in \"data\" or \"data_hex\"")
	}
	if _, _, _, err := dgram.ParseListenAddr(o.addr); err != nil {
		return nil, err
	}
	return o, nil
}

func runListen(c *cli.Context) error {
	o, err := parseListenOpts(c)
	if err != nil {
		return err
	}
	conn, err := dgram.Listen(c.Context, o.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	local := dgram.LocalAddrPort(conn)
	stderr := c.App.ErrWriter
	what := ""
	if o.echo {
		what = ", echoing"
	}
	fmt.Fprintf(stderr, "listening on %s (UDP)%s; Ctrl-C to stop\n", local, what)

	l := &listener{opts: o, conn: conn, out: c.App.Writer, errw: stderr, senders: newAddrSet(maxSendersCounted)}
	if o.json {
		l.js = newJSONWriter(c.App.Writer)
	}
	runErr := l.loop(c.Context)
	if err := l.summary(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// listener is the receive loop of `udpchat listen`.
type listener struct {
	opts *listenOpts
	conn *net.UDPConn
	out  io.Writer
	errw io.Writer
	js   *jsonWriter

	datagrams, bytes, echoed, echoErrs, truncated uint64
	senders                                       *addrSet
}

// aLongTimeAgo is a read deadline in the past: setting it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// wakeOnDone makes a blocked read on conn return once ctx is done.
func wakeOnDone(ctx context.Context, conn *net.UDPConn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(aLongTimeAgo) })
}

// readDeadline returns the deadline for the next read: timeout from now,
// or none.
func readDeadline(timeout time.Duration) time.Time {
	if timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(timeout)
}

func (l *listener) loop(ctx context.Context) error {
	stop := wakeOnDone(ctx, l.conn)
	defer stop()
	r := dgram.NewReader(l.conn, 0)
	for l.opts.count == 0 || l.datagrams < l.opts.count {
		// Set the deadline before checking ctx: if the context ends after
		// the check, its past deadline overrides this one.
		if err := l.conn.SetReadDeadline(readDeadline(l.opts.timeout)); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		d, err := r.Read()
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: end with the summary
			}
			if errors.Is(err, dgram.ErrTimeout) {
				if l.opts.count > 0 {
					return fmt.Errorf("no datagram for %v: received %d of the %d datagrams --count asked for", l.opts.timeout, l.datagrams, l.opts.count)
				}
				return nil
			}
			return err
		}
		if err := l.handle(d); err != nil {
			return err
		}
	}
	return nil
}

func (l *listener) handle(d dgram.Datagram) error {
	l.datagrams++
	l.bytes += uint64(len(d.Data))
	l.senders.add(d.From)
	if d.Truncated {
		l.truncated++
	}
	if err := l.print(d); err != nil {
		return err
	}
	if l.opts.echo {
		l.echo(d)
	}
	return nil
}

func (l *listener) echo(d dgram.Datagram) {
	if _, err := l.conn.WriteToUDPAddrPort(d.Data, d.From); err != nil {
		l.echoErrs++
		if l.echoErrs == 1 {
			fmt.Fprintf(l.errw, "warning: echo to %s failed: %v (further failures are only counted)\n", d.From, dgram.Classify("send", d.From.String(), err))
		}
		return
	}
	l.echoed++
}

// datagramJSON is listen --json's per-datagram object.
type datagramJSON struct {
	Type      string `json:"type"`
	From      string `json:"from"`
	Bytes     int    `json:"bytes"`
	Truncated bool   `json:"truncated,omitempty"`
	payloadJSON
}

func (l *listener) print(d dgram.Datagram) error {
	if l.js != nil {
		return l.js.write(datagramJSON{Type: "datagram", From: d.From.String(), Bytes: len(d.Data),
			Truncated: d.Truncated, payloadJSON: newPayloadJSON(d.Data)})
	}
	trunc := ""
	if d.Truncated {
		trunc = ", truncated"
	}
	var err error
	if l.opts.hex {
		_, err = fmt.Fprintf(l.out, "%s (%s%s):\n%s", d.From, plural(uint64(len(d.Data)), "byte"), trunc, hexDump(d.Data, "  "))
	} else {
		_, err = fmt.Fprintf(l.out, "%s (%s%s): %s\n", d.From, plural(uint64(len(d.Data)), "byte"), trunc, showPayload(d.Data))
	}
	return err
}

// summaryJSON is listen --json's closing object (no "peer": it is overall).
type listenSummaryJSON struct {
	Type          string `json:"type"`
	Datagrams     uint64 `json:"datagrams"`
	Bytes         uint64 `json:"bytes"`
	Senders       int    `json:"senders"`
	SendersCapped bool   `json:"senders_capped,omitempty"`
	Echoed        uint64 `json:"echoed"`
	EchoErrors    uint64 `json:"echo_errors,omitempty"`
	Truncated     uint64 `json:"truncated"`
}

func (l *listener) summary() error {
	if l.js != nil {
		return l.js.write(listenSummaryJSON{Type: "summary", Datagrams: l.datagrams, Bytes: l.bytes,
			Senders: l.senders.len(), SendersCapped: l.senders.full, Echoed: l.echoed, EchoErrors: l.echoErrs,
			Truncated: l.truncated})
	}
	senders := plural(uint64(l.senders.len()), "sender")
	if l.senders.full {
		senders = fmt.Sprintf("%d or more senders", l.senders.len())
	}
	s := fmt.Sprintf("received %s (%s) from %s", plural(l.datagrams, "datagram"), plural(l.bytes, "byte"), senders)
	if l.opts.echo {
		s += fmt.Sprintf(", echoed %d", l.echoed)
		if l.echoErrs > 0 {
			s += fmt.Sprintf(" (%d echoes failed)", l.echoErrs)
		}
	}
	if l.truncated > 0 {
		s += fmt.Sprintf(", %d truncated", l.truncated)
	}
	_, err := fmt.Fprintln(l.out, s)
	return err
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
