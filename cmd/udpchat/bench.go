package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/bench"
	"github.com/udpchat/udpchat/dgram/seq"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure throughput and latency: on loopback, or between two hosts like iperf3",
		ArgsUsage: "[server [ADDR] | client HOST:PORT]",
		Description: "With no argument, runs a sender and a receiver in this process on loopback. `bench\n" +
			"server [ADDR]` (default 127.0.0.1:9201; :9201 for other hosts) and `bench client\n" +
			"HOST:PORT` measure between two hosts. Every datagram carries the 20-byte sequence\n" +
			"header and is tracked on its own (loss, reordering, duplicates, RFC 3550 jitter), even\n" +
			"when the kernel moves 64 of them in one buffer (UDP GSO/GRO).\n\n" +
			"throughput: datagrams of --size bytes for --duration, as fast as possible or paced at\n" +
			"--rate (datagrams per second: 100kpps, or a bit rate: 1gbit), one row per --interval\n" +
			"and a summary that tells the receiver's own drops (its socket buffer overflowing)\n" +
			"from network loss. latency: ping-pong with --inflight probes out, full round trips\n" +
			"(as sockperf --full-rtt) from a histogram of every sample after a warm-up;\n" +
			"--busy-poll spins instead of sleeping (as sockperf --nonblocked).\n\n" +
			"The server cannot be turned against anyone: it answers a hello only with a token the\n" +
			"client must echo from its own address (no more than 3x the bytes of the hello), runs one\n" +
			"test at a time, for its client only, and ends it at the client's stop, after 3s of\n" +
			"silence from it, or at --max-duration; a hello that asks more than --max-duration,\n" +
			"--max-rate, reports more often than every 100ms, or busy polling with --no-busy, is\n" +
			"refused with the reason.\n\n" +
			"Examples:\n" +
			"  udpchat bench\n" +
			"  udpchat bench --size 1400 --duration 5s\n" +
			"  udpchat bench --mode latency --duration 5s\n" +
			"  udpchat bench --offload=false --batch 1          # one system call per datagram\n" +
			"  udpchat bench server :9201                       # then, on another host:\n" +
			"  udpchat bench client 192.0.2.10:9201 --rate 100kpps",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mode", Aliases: []string{"m"}, Value: "throughput", Usage: "`MODE`: throughput or latency"},
			&cli.GenericFlag{Name: "size", Aliases: []string{"l"}, Value: &sizeValue{n: 64}, Usage: "datagram size in `BYTES`, the 20-byte header included"},
			&cli.GenericFlag{Name: "duration", Aliases: []string{"t"}, Value: &durationValue{d: 10 * time.Second}, Usage: "measure for `D`"},
			&cli.StringFlag{Name: "rate", Aliases: []string{"b"}, Usage: "pace throughput at `R`: datagrams/s (100kpps, 1mpps) or bits/s (1gbit); default as fast as possible"},
			&cli.IntFlag{Name: "batch", Value: bench.DefaultBatch, Usage: "datagrams per system call, `N` (1: one sendmsg per datagram)"},
			&cli.BoolFlag{Name: "offload", Value: true, Usage: "coalesce with UDP GSO/GRO where the kernel has it (--offload=false: not)"},
			&cli.IntFlag{Name: "inflight", Value: 1, Usage: "latency probes in flight at once, `N`"},
			&cli.BoolFlag{Name: "busy-poll", Usage: "latency: spin on non-blocking reads instead of sleeping (both sides)"},
			&cli.GenericFlag{Name: "interval", Aliases: []string{"i"}, Value: &durationValue{d: time.Second}, Usage: "throughput: a row every `D` (0: none)"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j", "J"}, Usage: "print JSON lines: intervals and a summary"},
			&cli.GenericFlag{Name: "max-duration", Value: &durationValue{d: bench.DefaultMaxDuration}, Usage: "server: refuse tests longer than `D`, and end any test then"},
			&cli.StringFlag{Name: "max-rate", Usage: "server: refuse throughput tests faster than `R` (100kpps, 1gbit at --size), answer at most as many latency probes a second"},
			&cli.BoolFlag{Name: "no-busy", Usage: "server: refuse tests that ask it to busy-poll (spin a core)"},
		},
		Action: runBench,
	}
}

type benchOpts struct {
	mode     string
	size     int
	duration time.Duration
	ratePPS  float64
	batch    int
	offload  bool
	inflight int
	busy     bool
	interval time.Duration
	json     bool
}

func parseBenchOpts(c *cli.Context) (*benchOpts, error) {
	o := &benchOpts{mode: c.String("mode"), duration: durationFlag(c, "duration"), batch: c.Int("batch"),
		offload: c.Bool("offload"), inflight: c.Int("inflight"), busy: c.Bool("busy-poll"),
		interval: durationFlag(c, "interval"), json: c.Bool("json")}
	if o.mode != "throughput" && o.mode != "latency" {
		return nil, usagef(c, "--mode must be throughput or latency, got %q", o.mode)
	}
	if err := benchModeFlags(c, o.mode); err != nil {
		return nil, err
	}
	n, _ := sizeFlag(c, "size")
	if n < seq.HeaderLen || n > dgram.MaxPayloadIPv4 {
		return nil, usagef(c, "--size must be from %d (the header) to %d bytes, got %d", seq.HeaderLen, dgram.MaxPayloadIPv4, n)
	}
	o.size = int(n)
	if o.duration <= 0 {
		return nil, usagef(c, "--duration must be more than 0")
	}
	if o.batch < 1 || o.batch > 4096 {
		return nil, usagef(c, "--batch must be from 1 to 4096, got %d", o.batch)
	}
	if o.inflight < 1 || o.inflight > 4096 {
		return nil, usagef(c, "--inflight must be from 1 to 4096, got %d", o.inflight)
	}
	if o.interval < 0 || o.interval > 0 && o.interval < bench.DefaultMinInterval {
		return nil, usagef(c, "--interval must be 0 (no rows) or at least %v, got %v", bench.DefaultMinInterval, o.interval)
	}
	if r := c.String("rate"); r != "" {
		pps, err := parsePPS(r, o.size)
		if err != nil {
			return nil, usagef(c, "invalid value %q for flag --rate: %v", r, err)
		}
		o.ratePPS = pps
	}
	return o, nil
}

// parsePPS reads a rate as datagrams per second ("100kpps", "2mpps",
// "5000pps") or as a bit rate turned into datagrams of size bytes.
func parsePPS(s string, size int) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if strings.HasSuffix(t, "pps") {
		t = strings.TrimSuffix(t, "pps")
		mult := 1.0
		switch {
		case strings.HasSuffix(t, "k"):
			mult, t = 1e3, strings.TrimSuffix(t, "k")
		case strings.HasSuffix(t, "m"):
			mult, t = 1e6, strings.TrimSuffix(t, "m")
		}
		v, err := strconv.ParseFloat(t, 64)
		if err != nil || v <= 0 {
			return 0, errors.New("want datagrams per second such as 100kpps, or a bit rate such as 1gbit")
		}
		return v * mult, nil
	}
	bps, err := parseRate(s)
	if err != nil {
		return 0, err
	}
	return bps / float64(size*8), nil
}

func runBench(c *cli.Context) error {
	role, addr := "", ""
	switch c.NArg() {
	case 0:
	case 1, 2:
		role = c.Args().First()
		addr = c.Args().Get(1)
		if role != "server" && role != "client" {
			return usagef(c, "bench takes server [ADDR] or client HOST:PORT, got %q", c.Args().Slice())
		}
		if role == "client" && addr == "" {
			return usagef(c, "bench client needs the server's HOST:PORT")
		}
	default:
		return usagef(c, "bench takes server [ADDR] or client HOST:PORT, got %q", c.Args().Slice())
	}
	o, err := parseBenchOpts(c)
	if err != nil {
		return err
	}
	for _, f := range []string{"max-duration", "max-rate", "no-busy"} {
		if c.IsSet(f) && role == "client" {
			return usagef(c, "--%s is the server's: it goes with bench server (or with bench alone, which runs one)", f)
		}
	}
	if role == "" && c.IsSet("no-busy") {
		// bench alone runs a server for its own test: --no-busy could only
		// refuse that test's --busy-poll, or do nothing.
		return usagef(c, "--no-busy does nothing in bench alone, whose server runs only its own test (with --busy-poll, it would refuse it): give it to bench server")
	}
	scfg := bench.ServerConfig{MaxDuration: durationFlag(c, "max-duration"), NoBusy: c.Bool("no-busy")}
	if scfg.MaxDuration <= 0 {
		return usagef(c, "--max-duration must be more than 0")
	}
	if r := c.String("max-rate"); r != "" {
		pps, err := parsePPS(r, o.size)
		if err != nil {
			return usagef(c, "invalid value %q for flag --max-rate: %v", r, err)
		}
		scfg.MaxRatePPS = pps
	}
	switch role {
	case "server":
		if addr == "" {
			addr = "127.0.0.1:9201"
		}
		return runBenchServer(c, addr, scfg)
	case "client":
		dst, err := dgram.Resolve(c.Context, addr)
		if err != nil {
			return err
		}
		conn, err := dgram.DialAddrPort(dst, netip.AddrPort{})
		if err != nil {
			return err
		}
		defer conn.Close()
		return runBenchClient(c, o, conn, dst.String())
	}
	// self-contained: a server in this process, on loopback
	sc, err := dgram.ListenAddrPort(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		return err
	}
	defer sc.Close()
	srv := bench.NewServerConfig(sc, scfg)
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	defer func() { srv.Close(); <-served }()
	conn, err := dgram.DialAddrPort(dgram.LocalAddrPort(sc), netip.AddrPort{})
	if err != nil {
		return err
	}
	defer conn.Close()
	return runBenchClient(c, o, conn, "loopback")
}

func runBenchServer(c *cli.Context, addr string, cfg bench.ServerConfig) error {
	conn, err := dgram.Listen(c.Context, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	srv := bench.NewServerConfig(conn, cfg)
	rcv, gro := srv.Rcvbuf()
	fmt.Fprintf(c.App.ErrWriter, "listening on %s (UDP): udpchat bench server, SO_RCVBUF %d, GRO %v; Ctrl-C to stop\n",
		dgram.LocalAddrPort(conn), rcv, onOff(gro))
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-c.Context.Done():
		srv.Close()
		return <-served
	case err := <-served:
		return err
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// benchRow prints one interval of a throughput run: a line, or a JSON
// object. An interval whose report from the receiver came late has only
// the sender's side: "recv ?" in text, and in JSON "recv_known": false
// without the receiver's figures (not 0 received and 100% loss, which
// would be a lie; what it got counts in the next interval).
func benchRow(out io.Writer, js *jsonWriter, size int, r bench.Interval) {
	secs := (r.End - r.Start).Seconds()
	recvMbps := float64(r.Received) * float64(size) * 8 / secs / 1e6
	loss := pct(r.Sent-min(r.Received, r.Sent), r.Sent)
	if js != nil {
		type recvSide struct {
			Received   uint64  `json:"received"`
			RecvPPS    float64 `json:"recv_pps"`
			RecvMbps   float64 `json:"recv_mbps"`
			LossPct    float64 `json:"loss_pct"`
			Reordered  uint64  `json:"reordered"`
			Duplicates uint64  `json:"duplicates"`
			JitterMs   float64 `json:"jitter_ms"`
		}
		row := struct {
			Type    string  `json:"type"`
			StartS  float64 `json:"start_s"`
			EndS    float64 `json:"end_s"`
			Sent    uint64  `json:"sent"`
			SentPPS float64 `json:"sent_pps"`
			*recvSide
			RecvKnown bool `json:"recv_known"`
		}{Type: "interval", StartS: r.Start.Seconds(), EndS: r.End.Seconds(), Sent: r.Sent, SentPPS: float64(r.Sent) / secs, RecvKnown: r.Known}
		if r.Known {
			row.recvSide = &recvSide{r.Received, float64(r.Received) / secs, recvMbps, loss, r.Reordered, r.Duplicates, r.JitterMs}
		}
		_ = js.write(row)
		return
	}
	recv := "recv ?  (the receiver's report on this interval came late: what it got counts in the next row)"
	if r.Known {
		recv = fmt.Sprintf("recv %7s/s %9.1f Mbit/s  loss %5.2f%%  ooo %d  dup %d  jitter %.3f ms",
			si(float64(r.Received)/secs), recvMbps, loss, r.Reordered, r.Duplicates, r.JitterMs)
	}
	fmt.Fprintf(out, "[%5.1f-%5.1f s]  sent %7s/s  %s\n", r.Start.Seconds(), r.End.Seconds(), si(float64(r.Sent)/secs), recv)
}

func runBenchClient(c *cli.Context, o *benchOpts, conn *net.UDPConn, where string) error {
	out := c.App.Writer
	var js *jsonWriter
	if o.json {
		js = newJSONWriter(out)
	}
	if o.mode == "latency" {
		return benchLatency(c, o, conn, where, out, js)
	}
	pace := "as fast as possible"
	if o.ratePPS > 0 {
		pace = fmt.Sprintf("paced at %s datagrams/s", si(o.ratePPS))
	}
	if js == nil {
		fmt.Fprintf(out, "udpchat bench (%s): throughput, %d-byte datagrams for %v, %s, %d per system call\n",
			where, o.size, o.duration, pace, o.batch)
	}
	cfg := bench.ThroughputConfig{Size: o.size, Duration: o.duration, RatePPS: o.ratePPS, Batch: o.batch,
		Offload: o.offload, Interval: o.interval}
	if o.interval == 0 {
		cfg.Interval = -1
	}
	row := func(r bench.Interval) { benchRow(out, js, o.size, r) }
	res, err := bench.RunThroughput(c.Context, conn, cfg, row)
	if err != nil {
		return err
	}
	if js != nil {
		var drops *uint64
		if res.DropsKnown {
			drops = &res.RcvbufDrops
		}
		return js.write(struct {
			Type        string  `json:"type"`
			Mode        string  `json:"mode"`
			Size        int     `json:"size"`
			DurationS   float64 `json:"duration_s"`
			Sent        uint64  `json:"sent"`
			Received    uint64  `json:"received"`
			SentPPS     float64 `json:"sent_pps"`
			RecvPPS     float64 `json:"recv_pps"`
			RecvMbps    float64 `json:"recv_mbps"`
			LossPct     float64 `json:"loss_pct"`
			Reordered   uint64  `json:"reordered"`
			Duplicates  uint64  `json:"duplicates"`
			JitterMs    float64 `json:"jitter_ms"`
			RcvbufDrops *uint64 `json:"rcvbuf_drops"`
			Lost        uint64  `json:"lost"`
			Malformed   uint64  `json:"malformed"`
			GSO         bool    `json:"gso"`
			GRO         bool    `json:"gro"`
			Batch       int     `json:"batch"`
			Rcvbuf      int     `json:"rcvbuf"`
		}{"summary", "throughput", res.Size, res.Duration.Seconds(), res.Sent, res.Received, res.SentPPS(), res.RecvPPS(),
			res.RecvMbps(), res.LossPct(), res.Reordered, res.Duplicates, res.JitterMs, drops, res.Lost, res.Malformed,
			res.GSO, res.GRO, res.Batch, res.Rcvbuf})
	}
	fmt.Fprintf(out, "summary: sent %d in %.2f s (%s/s), received %d (%s/s, %.1f Mbit/s), loss %.2f%%, %d reordered, %d duplicates, jitter %.3f ms\n",
		res.Sent, res.Duration.Seconds(), si(res.SentPPS()), res.Received, si(res.RecvPPS()), res.RecvMbps(),
		res.LossPct(), res.Reordered, res.Duplicates, res.JitterMs)
	fmt.Fprintf(out, "  path: GSO %s at the sender, GRO %s at the receiver, SO_RCVBUF %d bytes\n", onOff(res.GSO), onOff(res.GRO), res.Rcvbuf)
	switch {
	case res.DropsKnown && res.RcvbufDrops > 0:
		unit := "datagrams"
		if res.GRO {
			unit = "buffers (with GRO, one holds up to 64 datagrams)"
		}
		fmt.Fprintf(out, "  the receiver's kernel dropped %d %s because its socket buffer was full: that loss is the receiver not keeping up, not the network\n",
			res.RcvbufDrops, unit)
	case res.DropsKnown && res.LossPct() > 0:
		fmt.Fprintln(out, "  the receiver's kernel dropped nothing: the loss happened on the way (the network)")
	}
	return nil
}

func benchLatency(c *cli.Context, o *benchOpts, conn *net.UDPConn, where string, out io.Writer, js *jsonWriter) error {
	cfg := bench.LatencyConfig{Size: o.size, Duration: o.duration, Inflight: o.inflight, BusyPoll: o.busy}
	if js == nil {
		busy := ""
		if o.busy {
			busy = ", busy-polling"
		}
		fmt.Fprintf(out, "udpchat bench (%s): latency, %d-byte probes, %d in flight, for %v after a warm-up%s\n",
			where, o.size, o.inflight, o.duration, busy)
	}
	ctx := c.Context
	var stopProgress func()
	if js == nil && isTerminal(c.App.ErrWriter) {
		stopProgress = progressLine(ctx, c.App.ErrWriter, o.duration)
	}
	res, err := bench.RunLatency(ctx, conn, cfg)
	if stopProgress != nil {
		stopProgress()
	}
	if err != nil {
		return err
	}
	h := &res.Hist
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	if js != nil {
		return js.write(struct {
			Type    string  `json:"type"`
			Mode    string  `json:"mode"`
			Size    int     `json:"size"`
			Samples uint64  `json:"samples"`
			MinUs   float64 `json:"min_us"`
			P50Us   float64 `json:"p50_us"`
			P90Us   float64 `json:"p90_us"`
			P99Us   float64 `json:"p99_us"`
			P999Us  float64 `json:"p999_us"`
			MaxUs   float64 `json:"max_us"`
			MeanUs  float64 `json:"mean_us"`
			Lost    uint64  `json:"lost"`
			Busy    bool    `json:"busy_poll"`
		}{"summary", "latency", res.Size, h.Count(), us(h.Min()), us(h.Percentile(50)), us(h.Percentile(90)),
			us(h.Percentile(99)), us(h.Percentile(99.9)), us(h.Max()), us(h.Mean()), res.Lost, o.busy})
	}
	fmt.Fprintf(out, "round trip (us): min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f  (%d samples, %d lost)\n",
		us(h.Min()), us(h.Percentile(50)), us(h.Percentile(90)), us(h.Percentile(99)), us(h.Percentile(99.9)),
		us(h.Max()), us(h.Mean()), h.Count(), res.Lost)
	return nil
}

// progressLine shows elapsed time on a terminal until stopped.
func progressLine(ctx context.Context, w io.Writer, total time.Duration) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-ctx.Done():
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\rmeasuring... %.1f s of about %.1f s", time.Since(start).Seconds(), total.Seconds()*1.1)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func pct(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) * 100 / float64(whole)
}

// si writes a rate with an SI prefix: 12.3M, 450.1k.
func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
