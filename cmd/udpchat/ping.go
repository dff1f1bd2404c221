package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/probe"
	"github.com/udpchat/udpchat/dgram/seal"
	"github.com/udpchat/udpchat/dgram/seq"
)

func pingCommand() *cli.Command {
	return &cli.Command{
		Name:      "ping",
		Usage:     "measure round-trip time and loss against any UDP echo server",
		ArgsUsage: "HOST:PORT",
		Description: "Sends numbered probes (the 20-byte sequence header, padded to --size) to an echo\n" +
			"server and prints a line per reply, like ping(8): udpchat listen --echo, socat, or the\n" +
			"ten-line Python echo server all work, since only the bytes must come back. Replies\n" +
			"that come after --timeout are shown as late, not counted as received; duplicates and\n" +
			"reordered replies are marked; a reply whose bytes differ from the probe's is shown as\n" +
			"corrupted (ping(8)'s \"wrong data byte\"), never counted as received. Exit status 0\n" +
			"when at least one reply came, 1 otherwise.\n\n" +
			"Examples:\n" +
			"  udpchat listen --echo &\n" +
			"  udpchat ping 127.0.0.1:9000\n" +
			"  udpchat ping 127.0.0.1:9000 --count 100 --interval 10ms --size 1400 --json",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Value: 5, Usage: "send `N` probes (0: until Ctrl-C)"},
			&cli.GenericFlag{Name: "interval", Aliases: []string{"i"}, Value: &durationValue{d: time.Second}, Usage: "send a probe every `D`"},
			&cli.GenericFlag{Name: "size", Aliases: []string{"s"}, Value: &sizeValue{n: defaultPingSize}, Usage: "probe size in `BYTES`, the 20-byte header included"},
			&cli.GenericFlag{Name: "timeout", Aliases: []string{"W"}, Value: &durationValue{d: time.Second}, Usage: "wait `D` for each reply; later replies count as late"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON lines: one object per reply and a summary"},
			keyFileFlag(),
			pcapFlag(),
			explainFlag(),
		},
		Action: runPing,
	}
}

// defaultPingSize is the header and 8 bytes of payload.
const defaultPingSize = seq.HeaderLen + 8

type pingOpts struct {
	dst      netip.AddrPort
	count    uint64
	interval time.Duration
	size     int
	timeout  time.Duration
	json     bool
	key      *seal.Key
}

func parsePingOpts(c *cli.Context) (*pingOpts, error) {
	if c.NArg() != 1 {
		return nil, usagef(c, "ping needs one destination HOST:PORT, for example: udpchat ping 127.0.0.1:9000")
	}
	o := &pingOpts{interval: durationFlag(c, "interval"), timeout: durationFlag(c, "timeout"), json: c.Bool("json")}
	n := c.Int("count")
	if n < 0 {
		return nil, usagef(c, "--count must be 0 (until Ctrl-C) or more, got %d", n)
	}
	o.count = uint64(n)
	if err := refuseUnless(c, o.count != 1, "is the gap between probes: with --count 1 there is only one", "interval"); err != nil {
		return nil, err
	}
	if o.interval <= 0 {
		return nil, usagef(c, "--interval must be more than 0")
	}
	if o.timeout <= 0 {
		return nil, usagef(c, "--timeout must be more than 0")
	}
	size, _ := sizeFlag(c, "size")
	if size < seq.HeaderLen || size > dgram.MaxPayload {
		return nil, usagef(c, "--size must be from %d (the header) to %d bytes, got %d", seq.HeaderLen, dgram.MaxPayload, size)
	}
	o.size = int(size)
	dst, err := dgram.Resolve(c.Context, c.Args().First())
	if err != nil {
		return nil, err
	}
	if o.key, err = loadKey(c); err != nil {
		return nil, err
	}
	check := dgram.CheckSize
	if o.key != nil {
		check = sealedLimit
	}
	if err := check(o.size, dst); err != nil {
		return nil, usagef(c, "--size: %v", err)
	}
	o.dst = dst
	return o, nil
}

func runPing(c *cli.Context) (err error) {
	o, err := parsePingOpts(c)
	if err != nil {
		return err
	}
	cp, err := openCapture(c)
	if err != nil {
		return err
	}
	defer closeCapture(cp, &err)
	conn, err := dgram.DialAddrPort(o.dst, netip.AddrPort{})
	if err != nil {
		return err
	}
	defer conn.Close()
	ex := newExplainer(c)
	ex.opened(conn, true, netip.AddrPort{})
	if err := cp.askTTL(conn, ex); err != nil {
		return err
	}
	defer ex.close()
	pr, err := probe.New(probe.Config{Size: o.size, Type: seq.TypeData, Timeout: o.timeout})
	if err != nil {
		return err
	}
	p := &pinger{opts: o, conn: conn, out: c.App.Writer, errw: c.App.ErrWriter, reader: dgram.NewReader(conn, 0), pr: pr, cap: cp, ex: ex}
	p.reader.SetTracer(ex.tracer())
	if p.keys, err = newKeyring(o.key); err != nil {
		return err
	}
	if o.json {
		p.js = newJSONWriter(c.App.Writer)
	} else {
		fmt.Fprintf(p.out, "PING %s: %d bytes per probe, every %v, timeout %v\n", o.dst, o.size, o.interval, o.timeout)
	}
	runErr := p.run(c.Context)
	if err := p.summary(); err != nil && runErr == nil {
		runErr = err
	}
	// As send --wait says it: replies that stop from a server known to
	// answer may be its rate limit. (A late reply came after all: its
	// probe is not counted as one that drew nothing.)
	if n := p.silent - min(p.silent, p.pr.Stats().Late); n > 0 && p.js == nil {
		fmt.Fprintf(p.errw, "%s got no reply after %s had answered: %s\n", plural(n, "probe"), o.dst, silenceHint(1))
	}
	if runErr != nil {
		return runErr
	}
	if st := p.pr.Stats(); st.Received == 0 {
		if p.refused > 0 {
			return fmt.Errorf("no reply from %s: %w", o.dst, &dgram.Error{Op: "ping", Addr: o.dst.String(), Kind: dgram.ErrRefused})
		}
		if st.Transmitted == 0 {
			return nil // interrupted before the first probe
		}
		if st.Corrupted > 0 {
			return fmt.Errorf("no intact reply from %s: %s came back changed", o.dst, plural(st.Corrupted, "reply"))
		}
		if st.Late > 0 {
			// the server answers, too slowly for --timeout
			return fmt.Errorf("no reply from %s within %v per probe, but %d came after it (the slowest in %.0f ms): give a longer --timeout",
				o.dst, o.timeout, st.Late, float64(p.lateMax.Nanoseconds())/1e6)
		}
		return fmt.Errorf("no reply from %s within %v per probe: is an echo server running there (udpchat listen --echo)?", o.dst, o.timeout)
	}
	return nil
}

// pinger runs ping's probes: the protocol is a probe.Prober; this is the
// socket, the schedule and the words.
type pinger struct {
	cap    *capture   // --pcap
	ex     *explainer // --explain
	opts   *pingOpts
	conn   *net.UDPConn
	reader *dgram.Reader
	out    io.Writer
	errw   io.Writer
	js     *jsonWriter
	keys   *keyring // --key-file
	pr     *probe.Prober

	start, end time.Time
	refused    uint64
	sendErrs   uint64        // probes the kernel would not take (buffer full)
	lateMax    time.Duration // the slowest reply that came after its timeout
	silent     uint64        // probes with no reply although an intact reply had come before
}

// due is when probe q is sent: an absolute schedule from the start.
func (p *pinger) due(q uint64) time.Time { return p.start.Add(time.Duration(q) * p.opts.interval) }

func (p *pinger) more() bool { return p.opts.count == 0 || p.pr.Sent() < p.opts.count }

func (p *pinger) run(ctx context.Context) error {
	p.start = time.Now()
	defer func() { p.end = time.Now() }()
	for {
		now := time.Now()
		if err := p.expire(now); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if p.more() && !now.Before(p.due(p.pr.Sent())) {
			if err := p.send(now); err != nil {
				return err
			}
			continue
		}
		expiry := p.pr.Deadline()
		if !p.more() && expiry.IsZero() {
			return nil // every probe answered or timed out
		}
		deadline := expiry
		if p.more() {
			if due := p.due(p.pr.Sent()); deadline.IsZero() || due.Before(deadline) {
				deadline = due
			}
		}
		d, err := p.reader.ReadContext(ctx, deadline)
		switch {
		case err == nil:
			// A probe whose timeout passed while this read waited (a
			// loaded machine wakes it late, with the reply already
			// there) gets its "no reply" line first, as it would have
			// on time: then its reply is the late one it is.
			now := time.Now()
			if err := p.expire(now); err != nil {
				return err
			}
			p.cap.receivedOn(p.conn, d)
			if err := p.reply(d, now); err != nil {
				return err
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, dgram.ErrTimeout):
		case errors.Is(err, dgram.ErrRefused):
			p.refused++
			if err := p.line(nil, fmt.Sprintf("from %s: port unreachable: nobody is listening there", p.opts.dst)); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// expire reports probes whose timeout has passed without a reply, oldest
// first.
func (p *pinger) expire(now time.Time) error {
	var err error
	answered := p.pr.Stats().Received > 0
	p.pr.Expire(now, func(ev probe.Event) {
		q := ev.Seq
		if answered {
			p.silent++
		}
		if e := p.line(pingEventJSON{Type: "timeout", Seq: &q}, fmt.Sprintf("no reply for seq=%d within %v", q, p.opts.timeout)); err == nil {
			err = e
		}
	})
	return err
}

func (p *pinger) send(now time.Time) error {
	q, wire := p.pr.Next(now)
	if p.keys != nil {
		var err error
		if wire, err = p.keys.seal(wire); err != nil {
			return err
		}
	}
	err := writeRetry(p.conn, wire, p.opts.dst.String(), p.ex)
	if err == nil {
		p.cap.sentOn(p.conn, wire)
	}
	if err != nil {
		switch {
		case errors.Is(err, dgram.ErrRefused):
			// The refusal answers an earlier probe; this one was not sent yet.
			p.refused++
			if err := p.line(nil, fmt.Sprintf("from %s: port unreachable: nobody is listening there", p.opts.dst)); err != nil {
				return err
			}
			err := writeRetry(p.conn, wire, p.opts.dst.String(), p.ex)
			if err == nil {
				p.cap.sentOn(p.conn, wire)
			}
			if err != nil && !errors.Is(err, dgram.ErrRefused) && !errors.Is(err, dgram.ErrNoBuffers) {
				return err
			}
		case errors.Is(err, dgram.ErrNoBuffers):
			// Still full after the retries: this probe is lost here, and
			// will time out like one lost on the way.
			p.sendErrs++
			if err := p.line(nil, fmt.Sprintf("probe seq=%d not sent: %v", q, err)); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

type pingReplyJSON struct {
	Type      string  `json:"type"`
	From      string  `json:"from"`
	Seq       uint64  `json:"seq"`
	Bytes     int     `json:"bytes"`
	RTTms     float64 `json:"rtt_ms"`
	Duplicate bool    `json:"duplicate,omitempty"`
	Late      bool    `json:"late,omitempty"`
	Reordered bool    `json:"reordered,omitempty"`
}

func ms(d time.Duration) float64 { return round3(float64(d.Nanoseconds()) / 1e6) }

func (p *pinger) reply(d dgram.Datagram, now time.Time) error {
	if p.keys != nil {
		if c := p.keys.open(&d); c != seal.None {
			return p.line(pingEventJSON{Type: "rejected", From: d.From.String(), Bytes: len(d.Data), Message: c.String()},
				fmt.Sprintf("%d bytes from %s: rejected: %s: %s", len(d.Data), d.From, c, causeText(c)))
		}
	}
	ev := p.pr.Reply(d.Data, now)
	from, q := d.From.String(), ev.Seq
	switch ev.Kind {
	case probe.Malformed:
		return p.line(pingEventJSON{Type: "malformed", From: from, Bytes: len(d.Data), Message: ev.Err.Error()},
			fmt.Sprintf("%d bytes from %s: not a probe (%v)", len(d.Data), d.From, ev.Err))
	case probe.Unknown:
		return p.line(pingEventJSON{Type: "unknown", From: from, Seq: &q, Bytes: len(d.Data)},
			fmt.Sprintf("%d bytes from %s: seq=%d was not sent (or is too old to remember)", len(d.Data), d.From, q))
	case probe.Corrupted:
		// as ping(8) says it: "wrong data byte #N should be 0xW but was 0xG"
		what := fmt.Sprintf("%d bytes where %d were sent", len(d.Data), p.opts.size)
		if ev.Want >= 0 && ev.Got >= 0 {
			what = fmt.Sprintf("wrong data byte #%d should be 0x%02x but was 0x%02x", ev.Offset, ev.Want, ev.Got)
		}
		return p.line(pingEventJSON{Type: "corrupted", From: from, Seq: &q, Bytes: len(d.Data), Message: what},
			fmt.Sprintf("%d bytes from %s: seq=%d time=%.3f ms (corrupted: %s; not counted)", len(d.Data), d.From, q, ms(ev.RTT), what))
	}
	r := pingReplyJSON{Type: "reply", From: from, Seq: q, Bytes: len(d.Data), RTTms: ms(ev.RTT)}
	note := ""
	switch {
	case ev.Kind == probe.Duplicate:
		r.Duplicate, note = true, " (DUP!)"
	case ev.Kind == probe.Late:
		r.Late, note = true, fmt.Sprintf(" (late: after the %v timeout, not counted)", p.opts.timeout)
		p.lateMax = max(p.lateMax, ev.RTT)
	case ev.Reordered:
		r.Reordered, note = true, " (reordered)"
	}
	return p.line(r, fmt.Sprintf("%d bytes from %s: seq=%d time=%.3f ms%s", len(d.Data), d.From, q, ms(ev.RTT), note))
}

// line prints one event: obj as JSON with --json (nothing when nil), text
// otherwise.
func (p *pinger) line(obj any, text string) error {
	if p.js != nil {
		if obj == nil {
			obj = pingEventJSON{Type: "error", Message: text}
		}
		return p.js.write(obj)
	}
	_, err := fmt.Fprintln(p.out, text)
	return err
}

// pingEventJSON is ping --json's object for anything but a reply:
// "timeout", "malformed", "unknown" (a reply to a probe never sent),
// "corrupted" (a reply whose bytes differ from the probe's), and
// "error" (port unreachable).
type pingEventJSON struct {
	Type    string  `json:"type"`
	From    string  `json:"from,omitempty"`
	Seq     *uint64 `json:"seq,omitempty"`
	Bytes   int     `json:"bytes,omitempty"`
	Message string  `json:"message,omitempty"`
}

type pingSummaryJSON struct {
	Type        string   `json:"type"`
	Peer        string   `json:"peer"`
	Transmitted uint64   `json:"transmitted"`
	Received    uint64   `json:"received"`
	Duplicates  uint64   `json:"duplicates"`
	LossPct     float64  `json:"loss_pct"`
	Late        uint64   `json:"late"`
	Reordered   uint64   `json:"reordered"`
	Malformed   uint64   `json:"malformed"`
	Refused     uint64   `json:"refused"`
	Corrupted   uint64   `json:"corrupted"`
	RTTMin      *float64 `json:"rtt_min_ms"`
	RTTAvg      *float64 `json:"rtt_avg_ms"`
	RTTMax      *float64 `json:"rtt_max_ms"`
	RTTMdev     *float64 `json:"rtt_mdev_ms"`
	TimeMs      float64  `json:"time_ms"`

	SendErrors uint64            `json:"send_errors,omitempty"`
	Rejected   map[string]uint64 `json:"rejected,omitempty"`
}

func (p *pinger) summary() error {
	st := p.pr.Stats()
	loss := round3(st.LossPct())
	var mn, avg, mx, mdev float64
	if st.Received > 0 {
		mn, mx, avg, mdev = ms(st.RTTMin), ms(st.RTTMax), ms(st.RTTAvg()), round3(st.RTTMdev())
	}
	elapsed := p.end.Sub(p.start)
	if p.js != nil {
		s := pingSummaryJSON{Type: "summary", Peer: p.opts.dst.String(), Transmitted: st.Transmitted, Received: st.Received,
			Duplicates: st.Duplicates, LossPct: loss, Late: st.Late, Reordered: st.Reordered, Malformed: st.Malformed,
			Refused: p.refused, Corrupted: st.Corrupted, SendErrors: p.sendErrs, TimeMs: ms(elapsed)}
		if st.Received > 0 {
			s.RTTMin, s.RTTAvg, s.RTTMax, s.RTTMdev = &mn, &avg, &mx, &mdev
		}
		if p.keys != nil {
			s.Rejected = p.keys.opener.Rejected().Map(true)
		}
		return p.js.write(s)
	}
	fmt.Fprintf(p.out, "--- %s ping statistics ---\n", p.opts.dst)
	fmt.Fprintf(p.out, "%d transmitted, %d received, %s, %.4g%% loss, %d late, %d reordered, time %dms\n",
		st.Transmitted, st.Received, plural(st.Duplicates, "duplicate"), loss, st.Late, st.Reordered, elapsed.Milliseconds())
	var odd []string
	if st.Corrupted > 0 {
		odd = append(odd, plural(st.Corrupted, "reply")+" corrupted (the bytes came back changed; not counted)")
	}
	if st.Malformed > 0 {
		odd = append(odd, plural(st.Malformed, "reply")+" that were not probes")
	}
	if st.Unknown > 0 {
		odd = append(odd, plural(st.Unknown, "reply")+" to probes never sent")
	}
	if p.refused > 0 {
		odd = append(odd, plural(p.refused, "port-unreachable error"))
	}
	if p.sendErrs > 0 {
		odd = append(odd, fmt.Sprintf("%d probes not sent (socket buffer full)", p.sendErrs))
	}
	if p.keys != nil && p.keys.opener.Rejected().Total() > 0 {
		odd = append(odd, rejectedText(p.keys.opener.Rejected())+" replies")
	}
	if len(odd) > 0 {
		fmt.Fprintln(p.out, strings.Join(odd, ", "))
	}
	if st.Received > 0 {
		_, err := fmt.Fprintf(p.out, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", mn, avg, mx, mdev)
		return err
	}
	return nil
}
