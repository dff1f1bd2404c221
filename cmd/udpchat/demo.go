package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/netem"
	"github.com/udpchat/udpchat/dgram/pcap"
	"github.com/udpchat/udpchat/dgram/seq"
)

// A demo scenario: what it impairs and what it shows.
type scenario struct {
	name  string
	title string
	cfg   netem.Config
}

func demoScenarios() []scenario {
	ge, _ := netem.Burst(0.1, 3)
	return []scenario{
		{"", "loss, reordering and duplication", netem.Config{Loss: 0.05, Reorder: 0.05, Dup: 0.03}},
		{"loss", "independent loss", netem.Config{Loss: 0.1}},
		{"burst", "burst loss (Gilbert-Elliott)", netem.Config{GE: ge}},
		{"reorder", "reordering", netem.Config{Reorder: 0.15}},
		{"duplicate", "duplication", netem.Config{Dup: 0.1}},
	}
}

// demoAll lists what `demo all` runs, in order.
var demoAll = []string{"loss", "burst", "reorder", "duplicate", "boundaries", "reliable", "fragments"}

func demoCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed the impairment with `N`: the same seed gives the same decisions, strip and counters"},
		&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Value: 200, Usage: "send `N` numbered datagrams"},
		&cli.GenericFlag{Name: "interval", Aliases: []string{"i"}, Value: &durationValue{d: time.Millisecond}, Usage: "send one datagram every `D`"},
		&cli.StringFlag{Name: "svg", Usage: "draw the sequence plot into `FILE` (an SVG image)"},
		&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON lines instead of text"},
		pcapFlag(),
	}
	flags = append(flags, impairFlags(false)...)
	return &cli.Command{
		Name:      "demo",
		Usage:     "see what UDP does to messages, and what TCP would do, on loopback",
		ArgsUsage: "[SCENARIO]",
		Description: "Runs a sender, an impaired link and a receiver in this process, on loopback: nothing\n" +
			"else is needed. With no SCENARIO, 200 numbered datagrams cross a link that loses,\n" +
			"reorders and duplicates some of them; the demo draws one mark per datagram, puts what\n" +
			"the link did beside what the receiver measured (they reconcile), and says what TCP\n" +
			"would have done on the same link. The same seed gives the same strip and counters\n" +
			"(in demo reliable, both halves: arq's runs in virtual time, its timings included).\n\n" +
			"Scenarios: loss, burst, reorder, duplicate, boundaries (TCP's byte stream against\n" +
			"UDP's datagrams, and truncation), reliable (the same link, raw and through arq, with\n" +
			"the price of reliability), fragments (a 9000-byte datagram as 7 IP fragments on a\n" +
			"1500-byte path, against datagrams that fit), all. Every impairment flag of `udpchat proxy` works here\n" +
			"too and overrides the scenario's link.\n\n" +
			"Examples:\n" +
			"  udpchat demo\n" +
			"  udpchat demo burst --seed 7 --svg burst.svg\n" +
			"  udpchat demo boundaries\n" +
			"  udpchat demo --loss 20% --count 500 --json",
		Flags:  flags,
		Action: runDemo,
	}
}

type demoOpts struct {
	seed     uint64
	count    int
	interval time.Duration
	svg      string
	json     bool
	override func(*netem.Config) error
	color    bool
	errw     io.Writer // progress, for runs over a second
	errTTY   bool
	progress *demoProgress // of the run under way
	cap      *capture      // --pcap
}

func runDemo(c *cli.Context) (err error) {
	if c.NArg() > 1 {
		return usagef(c, "demo takes one scenario, got %q", c.Args().Slice())
	}
	name := c.Args().First()
	var names []string
	switch {
	case name == "all":
		names = demoAll
	case name == "boundaries" || name == "reliable" || name == "fragments":
		names = []string{name}
	default:
		if findScenario(name) == nil {
			var known []string
			for _, s := range demoScenarios() {
				if s.name != "" {
					known = append(known, s.name)
				}
			}
			return usagef(c, "unknown scenario %q; the scenarios are: %s, boundaries, reliable, fragments, all", name, strings.Join(known, ", "))
		}
		names = []string{name}
	}
	o := &demoOpts{seed: c.Uint64("seed"), count: c.Int("count"), interval: durationFlag(c, "interval"),
		svg: c.String("svg"), json: c.Bool("json"), color: useColor(c.App.Writer),
		errw: c.App.ErrWriter, errTTY: isTerminal(c.App.ErrWriter)}
	if o.count < 1 || o.count > 100000 {
		return usagef(c, "--count must be from 1 to 100000, got %d", o.count)
	}
	if o.interval > time.Second {
		return usagef(c, "--interval must be at most 1s, got %v", o.interval)
	}
	if o.svg != "" && len(names) > 1 {
		return usagef(c, "--svg draws one scenario: pick one rather than all")
	}
	if len(names) == 1 && names[0] == "boundaries" {
		if err := refuseAll(c, "does nothing in demo boundaries, which writes five messages over TCP and UDP on a clean link", "json"); err != nil {
			return err
		}
	}
	if err := refuseUnless(c, !(len(names) == 1 && names[0] == "reliable"), "draws the scenarios of numbered datagrams, not reliable", "svg"); err != nil {
		return err
	}
	// Validate the impairment flags now, before any socket is opened.
	if _, err := impairConfig(c, ""); err != nil {
		return err
	}
	o.override = func(cfg *netem.Config) error { return overrideImpair(c, cfg) }
	var links []netem.Config // what the impairment flags end up in
	for _, n := range names {
		sc := findScenario(n)
		if n == "reliable" {
			sc = findScenario("")
		}
		if sc != nil {
			cfg := sc.cfg
			if err := o.override(&cfg); err != nil {
				return err
			}
			links = append(links, cfg)
		}
	}
	if err := checkImpairDeps(c, map[string][]netem.Config{"": links}); err != nil {
		return err
	}
	if o.cap, err = openDemoCapture(c, names); err != nil {
		return err
	}
	defer closeCapture(o.cap, &err)
	var js *jsonWriter
	if o.json {
		js = newJSONWriter(c.App.Writer)
	}
	for i, n := range names {
		if i > 0 && !o.json {
			fmt.Fprintln(c.App.Writer)
		}
		var err error
		switch n {
		case "boundaries":
			err = runBoundaries(c.Context, c.App.Writer, js)
		case "reliable":
			if o.svg != "" {
				return usagef(c, "--svg draws the scenarios of numbered datagrams, not reliable")
			}
			err = runReliableDemo(c.Context, c.App.Writer, js, o)
		case "fragments":
			if o.svg != "" {
				return usagef(c, "--svg draws the scenarios of numbered datagrams, not fragments")
			}
			err = runFragmentsDemo(c.Context, c.App.Writer, js, o, o.cap.writer())
		default:
			err = runScenario(c.Context, c.App.Writer, js, *findScenario(n), o)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func findScenario(name string) *scenario {
	for _, s := range demoScenarios() {
		if s.name == name {
			return &s
		}
	}
	return nil
}

// overrideImpair replaces the fields of cfg whose flags the user set.
func overrideImpair(c *cli.Context, cfg *netem.Config) error {
	set := func(names ...string) bool {
		for _, n := range names {
			if c.IsSet(n) {
				return true
			}
		}
		return false
	}
	flags, err := impairConfig(c, "")
	if err != nil {
		return err
	}
	if set("loss", "burst") {
		cfg.Loss, cfg.GE = flags.Loss, flags.GE
	}
	if set("delay") {
		cfg.Delay = flags.Delay
	}
	if set("jitter") {
		cfg.Jitter = flags.Jitter
	}
	if set("jitter-dist") {
		cfg.JitterDist = flags.JitterDist
	}
	if set("jitter-reorders") {
		cfg.JitterReorders = flags.JitterReorders
	}
	if set("reorder") {
		cfg.Reorder = flags.Reorder
	}
	if set("reorder-gap") {
		cfg.ReorderGap = flags.ReorderGap
	}
	if set("reorder-hold") {
		cfg.ReorderHold = flags.ReorderHold
	}
	if set("dup") {
		cfg.Dup = flags.Dup
	}
	if set("corrupt") {
		cfg.Corrupt = flags.Corrupt
	}
	if set("rate") {
		cfg.Rate = flags.Rate
	}
	if set("queue") {
		cfg.Queue = flags.Queue
	}
	if set("script") {
		cfg.Script = flags.Script
	}
	return nil
}

// arrival is one datagram as the demo's receiver saw it.
type arrival struct {
	seq  uint64
	kind seq.Kind
	at   time.Duration // since the first send
}

// demoResult is everything a scenario run measured.
type demoResult struct {
	sc        scenario
	cfg       netem.Config
	seed      uint64
	count     int
	decisions []netem.Decision // by seq
	released  [][]byte         // intact datagrams in the order the link released them
	corrupted uint64           // datagrams that failed the demo's checksum
	arrivals  []arrival
	link      netem.Snapshot
	recv      seq.Stats
	malformed uint64
	peer      netip.AddrPort
	elapsed   time.Duration
	drops     uint64 // kernel receive-buffer drops at the receiver
}

// demoDeadline bounds waiting for the last datagram; loopback delivers in
// microseconds, so only a broken run waits for it.
const demoDeadline = 10 * time.Second

func runScenario(ctx context.Context, w io.Writer, js *jsonWriter, sc scenario, o *demoOpts) error {
	cfg := sc.cfg
	if err := o.override(&cfg); err != nil {
		return err
	}
	res, err := simulate(ctx, sc, cfg, o)
	if err != nil {
		return err
	}
	if o.svg != "" {
		if err := writeSVG(o.svg, res); err != nil {
			return fmt.Errorf("writing --svg: %w", err)
		}
	}
	if js != nil {
		return demoJSON(js, res)
	}
	return demoText(w, res, o.color, o.svg)
}

// simulate runs the datagrams through a virtual-time link (netem.Sim) and
// sends what it releases over real loopback sockets, in the order and at
// the pace it releases them, to a receiver that tracks them with a
// seq.Tracker. The link's decisions and order depend only on the seed, so
// the strip is the same on every run.
func simulate(ctx context.Context, sc scenario, cfg netem.Config, o *demoOpts) (*demoResult, error) {
	rx, err := dgram.ListenAddrPort(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		return nil, err
	}
	defer rx.Close()
	_, _, _ = dgram.SetBuffers(rx, 4<<20, 0)
	tx, err := dgram.DialAddrPort(dgram.LocalAddrPort(rx), netip.AddrPort{})
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	res := &demoResult{sc: sc, cfg: cfg, seed: o.seed, count: o.count, peer: dgram.LocalAddrPort(tx),
		decisions: make([]netem.Decision, o.count)}

	// The receiver: reads until told how many to expect and it has them.
	tracker := seq.NewTracker(seq.Config{})
	want := make(chan uint64, 1)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- receive(rx, tracker, res, want, start) }()

	t0 := time.Unix(0, 0) // virtual time
	var sendErr error
	if o.errw != nil {
		prog := startDemoProgress(o.errw, o.errTTY, o.count, demoDuration(cfg, o.count, o.interval))
		defer prog.end()
		o.progress = prog
	}
	sim, err := netem.NewSim(cfg, o.seed, nil, func(b []byte, at time.Time) {
		if sendErr != nil {
			return
		}
		// pace the real sends as the link releases them; Ctrl-C ends the wait
		if err := sleepCtx(ctx, time.Until(start.Add(at.Sub(t0)))); err != nil {
			sendErr = err
			return
		}
		if demoIntact(b) {
			res.released = append(res.released, append([]byte(nil), b...))
		}
		if _, err := tx.Write(b); err != nil {
			sendErr = err
			return
		}
		if o.progress != nil {
			o.progress.add(1)
		}
		o.cap.record(1, pcap.In, dgram.LocalAddrPort(tx), dgram.LocalAddrPort(rx), b, 0, "")
	})
	if err != nil {
		return nil, err
	}
	var cur []byte // the datagram being decided, for --pcap
	sim.OnDecide(func(d *netem.Decision) {
		if i := int(d.Index) - 1; i < len(res.decisions) {
			res.decisions[i] = *d
		}
		o.cap.record(0, pcap.Out, dgram.LocalAddrPort(tx), dgram.LocalAddrPort(rx), cur, 0, decisionText(d))
	})
	for i := 0; i < o.count && ctx.Err() == nil; i++ {
		vt := t0.Add(time.Duration(i) * o.interval)
		b := seq.Header{Type: seq.TypeData, Seq: uint64(i), Sent: start.Add(vt.Sub(t0)).UnixNano()}.Append(nil)
		b = fmt.Appendf(b, "demo message %d", i)
		b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
		cur = b
		sim.Send(vt, b)
	}
	sim.Drain()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if sendErr != nil {
		return nil, dgram.Classify("send", dgram.LocalAddrPort(rx).String(), sendErr)
	}
	res.link = sim.Counters()
	want <- res.link.Out
	if err := <-done; err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.elapsed = time.Since(start)
	if s, ok := tracker.Lookup(res.peer); ok {
		res.recv = s
	}
	res.malformed = tracker.Totals().Malformed
	return res, nil
}

// kindCorrupted marks an arrival that failed the demo's checksum.
const kindCorrupted seq.Kind = 255

// demoIntact checks the CRC-32 the demo puts at the end of each datagram.
func demoIntact(b []byte) bool {
	if len(b) < seq.HeaderLen+4 {
		return false
	}
	n := len(b) - 4
	return crc32.ChecksumIEEE(b[:n]) == binary.BigEndian.Uint32(b[n:])
}

// receive tracks datagrams until it has the number sent on want.
func receive(rx *net.UDPConn, tr *seq.Tracker, res *demoResult, want <-chan uint64, start time.Time) error {
	r := dgram.NewReader(rx, 0)
	var got uint64
	target := ^uint64(0)
	deadline := time.Now().Add(demoDeadline + time.Minute)
	for got < target {
		select {
		case n := <-want:
			target = n
			deadline = time.Now().Add(demoDeadline)
			if got >= target {
				continue
			}
		default:
		}
		// short reads, so that the target arriving is noticed
		next := time.Now().Add(50 * time.Millisecond)
		if deadline.Before(next) {
			next = deadline
		}
		_ = rx.SetReadDeadline(next)
		d, err := r.Read()
		if err != nil {
			if errors.Is(err, dgram.ErrTimeout) && time.Now().Before(deadline) {
				continue
			}
			if errors.Is(err, dgram.ErrTimeout) {
				res.drops, _ = r.Drops()
				return fmt.Errorf("demo: the receiver got %d of %d datagrams within %v (kernel drops: %d)", got, target, demoDeadline, res.drops)
			}
			return err
		}
		got++
		now := time.Now()
		if !demoIntact(d.Data) {
			// A bit flipped on the way (after the kernel's checksum, as our
			// link corrupts): the demo's own checksum catches it, and the
			// datagram is counted as corrupted rather than tracked.
			res.corrupted++
			var q uint64
			if h, _, err := seq.Decode(d.Data); err == nil {
				q = h.Seq
			}
			res.arrivals = append(res.arrivals, arrival{seq: q, kind: kindCorrupted, at: now.Sub(start)})
			continue
		}
		ev := tr.Observe(d.From, d.Data, now)
		res.arrivals = append(res.arrivals, arrival{seq: ev.Header.Seq, kind: ev.Kind, at: now.Sub(start)})
	}
	res.drops, _ = r.Drops()
	return nil
}
