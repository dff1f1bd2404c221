package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/netem"
	"github.com/udpchat/udpchat/dgram/pcap"
)

func proxyCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "listen", Aliases: []string{"l"}, Usage: "accept clients on `ADDR`"},
		&cli.StringFlag{Name: "to", Usage: "forward to `ADDR`, the server"},
		&cli.GenericFlag{Name: "duration", Value: &durationValue{}, Usage: "stop after `D` (default: until Ctrl-C)"},
		&cli.GenericFlag{Name: "idle", Value: &durationValue{d: netem.DefaultIdle}, Usage: "forget a client after `D` without traffic"},
		&cli.IntFlag{Name: "max-clients", Value: netem.DefaultMaxClients, Usage: "serve at most `N` clients at once (more are dropped and counted)"},
		&cli.GenericFlag{Name: "max-held", Value: &sizeValue{n: netem.DefaultMaxHeldBytes}, Usage: "hold at most `BYTES` for delay, reordering and rate, over all clients (more is dropped and counted)"},
		&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print the counters as JSON lines"},
		pcapFlag(),
	}
	flags = append(flags, seedFlags()...)
	flags = append(flags, impairFlags(true)...)
	return &cli.Command{
		Name:      "proxy",
		Usage:     "forward datagrams both ways through a seeded, reproducible impairment",
		ArgsUsage: " ",
		Description: "Forwards datagrams between clients and a server, like a NAT: every client gets its\n" +
			"own socket towards the server, so replies go back to the client they answer. On the\n" +
			"way, datagrams are lost, delayed, reordered, duplicated, corrupted or rate-limited as\n" +
			"the flags say, with decisions drawn from a PRNG: the same --seed gives the same\n" +
			"decisions for the same datagrams (drawn per client and direction), so a bad network\n" +
			"can be replayed. No root and no tc needed. Ctrl-C or --duration ends it with the\n" +
			"counters of each direction.\n\n" +
			"Bounded whatever clients send, forged ones included: at most --max-clients clients, and\n" +
			"--max-held bytes (default 32M) held for delay, reordering and rate over all of them;\n" +
			"past either, datagrams are dropped and counted.\n\n" +
			"The impairment flags apply to both directions. Each also exists as --up-NAME (client\n" +
			"to server) and --down-NAME (server to client), which set one direction only and win\n" +
			"over --NAME: --up-loss 10%, --down-delay 50ms, --up-script \"drop 3\", ...\n\n" +
			"Examples:\n" +
			"  udpchat listen 127.0.0.1:9000 --seq &\n" +
			"  udpchat proxy --listen 127.0.0.1:9001 --to 127.0.0.1:9000 --loss 10% --reorder 5% --seed 1 &\n" +
			"  udpchat send 127.0.0.1:9001 --seq --count 100 --interval 10ms\n" +
			"  udpchat proxy -l :9001 --to 127.0.0.1:9000 --burst 4 --loss 5% --down-delay 30ms --jitter 10ms\n" +
			"  udpchat proxy -l :9001 --to 127.0.0.1:9000 --script \"drop 5,17; dup 7; swap 9\" --log decisions.jsonl",
		Flags:  flags,
		Action: runProxy,
	}
}

func runProxy(c *cli.Context) (err error) {
	if c.NArg() > 0 {
		return usagef(c, "proxy takes no arguments, got %q: use --listen ADDR --to ADDR", c.Args().Slice())
	}
	if c.String("listen") == "" || c.String("to") == "" {
		return usagef(c, "proxy needs --listen ADDR (where clients send) and --to ADDR (the server)")
	}
	if _, _, _, err := dgram.ParseListenAddr(c.String("listen")); err != nil {
		return err
	}
	target, err := dgram.Resolve(c.Context, c.String("to"))
	if err != nil {
		return err
	}
	up, err := impairConfig(c, "up-")
	if err != nil {
		return err
	}
	down, err := impairConfig(c, "down-")
	if err != nil {
		return err
	}
	if err := checkImpairDeps(c, map[string][]netem.Config{"": {up, down}, "up-": {up}, "down-": {down}}); err != nil {
		return err
	}
	if err := checkProxyLoop(c, c.String("listen"), target); err != nil {
		return err
	}
	if n := c.Int("max-clients"); n < 1 || n > 1<<16 {
		return usagef(c, "--max-clients must be from 1 to 65536, got %d", n)
	}
	idle := durationFlag(c, "idle")
	if idle <= 0 {
		return usagef(c, "--idle must be more than 0")
	}
	maxHeld, _ := sizeFlag(c, "max-held")
	if maxHeld < 64<<10 || maxHeld > 1<<30 {
		return usagef(c, "--max-held must be from 64k to 1G, got %d", maxHeld)
	}
	seed, random := pickSeed(c)
	var logger *netem.Logger
	var logFile *os.File
	if path := c.String("log"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return usagef(c, "--log: %v", err)
		}
		logFile = f
		defer logFile.Close()
		logger = netem.NewLogger(f)
	}

	if os.Getenv("GOMEMLIMIT") == "" {
		// What the proxy holds is bounded (--max-held, the clients'
		// table); the limit makes the garbage collector work harder before
		// the heap's usual doubling takes it far past that.
		old := debug.SetMemoryLimit(maxHeld + proxyMemoryOverhead)
		defer debug.SetMemoryLimit(old)
	}
	// --pcap: both sides of the relay, one capture interface each
	cp, err := openCapture(c, pcap.Interface{Name: "client side", Description: "clients and the proxy's " + c.String("listen")},
		pcap.Interface{Name: "server side", Description: "the proxy and the server " + target.String()})
	if err != nil {
		return err
	}
	defer closeCapture(cp, &err)

	ln, err := dgram.Listen(c.Context, c.String("listen"))
	if err != nil {
		return err
	}
	defer ln.Close()
	_, _, _ = dgram.SetBuffers(ln, 4<<20, 4<<20)
	p, err := netem.NewProxy(ln, netem.ProxyConfig{Target: target, Up: up, Down: down, Seed: seed,
		MaxClients: c.Int("max-clients"), Idle: idle, Log: logger, MaxHeldBytes: int(maxHeld), Tap: cp.proxyTap()})
	if err != nil {
		return err
	}
	how := ""
	if random {
		how = fmt.Sprintf(" (chosen at random: repeat this run with --seed %d)", seed)
	}
	errw := c.App.ErrWriter
	fmt.Fprintf(errw, "proxying on %s -> %s; Ctrl-C to stop\n", dgram.LocalAddrPort(ln), target)
	fmt.Fprintf(errw, "  up   (client -> server): %s\n", describeImpair(up))
	fmt.Fprintf(errw, "  down (server -> client): %s\n", describeImpair(down))
	fmt.Fprintf(errw, "  seed %d%s\n", seed, how)

	served := make(chan error, 1)
	go func() { served <- p.Serve() }()
	timeout, stopTimer := durationOrForever(durationFlag(c, "duration"))
	defer stopTimer()
	var serveErr error
	select {
	case <-c.Context.Done():
	case <-timeout:
	case serveErr = <-served:
	}
	active := p.Stats().Clients // Close forgets the clients
	p.Close()
	if serveErr == nil {
		serveErr = <-served
	}
	if err := logger.Flush(); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("writing --log: %w", err)
	}
	st := p.Stats()
	st.Clients = active
	if err := printProxyStats(c, st, seed); err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
}

// proxyMemoryOverhead is what the proxy's soft memory limit allows beyond
// --max-held: the receive buffers, the clients' table, the runtime.
const proxyMemoryOverhead = 48 << 20

type proxySummaryJSON struct {
	Type        string  `json:"type"`
	Seed        uint64  `json:"seed"`
	Clients     int     `json:"clients"`
	ClientsSeen uint64  `json:"clients_seen"`
	Expired     uint64  `json:"expired"`
	Rejected    uint64  `json:"rejected"`
	RcvbufDrops *uint64 `json:"rcvbuf_drops,omitempty"`
	// datagrams dropped because the proxy held --max-held bytes already
	HeldDropped  uint64 `json:"held_dropped"`
	MaxHeldBytes int64  `json:"max_held_bytes"`
}

func printProxyStats(c *cli.Context, s netem.ProxyStats, seed uint64) error {
	out := c.App.Writer
	if c.Bool("json") {
		js := newJSONWriter(out)
		for _, l := range []linkJSON{newLinkJSON("up", s.Up), newLinkJSON("down", s.Down)} {
			if err := js.write(l); err != nil {
				return err
			}
		}
		sum := proxySummaryJSON{Type: "summary", Seed: seed, Clients: s.Clients, ClientsSeen: s.ClientsSeen,
			Expired: s.Expired, Rejected: s.Rejected, HeldDropped: s.Up.DropHeld + s.Down.DropHeld, MaxHeldBytes: s.MaxHeld}
		if s.RcvbufDropsKnown {
			sum.RcvbufDrops = &s.RcvbufDrops
		}
		return js.write(sum)
	}
	t := newTable(out)
	linkTable(t, []string{"up", "down"}, []netem.Snapshot{s.Up, s.Down})
	if err := t.flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "clients: %d seen, %d expired after --idle, %s dropped because --max-clients were busy; seed %d\n",
		s.ClientsSeen, s.Expired, plural(s.Rejected, "datagram"), seed); err != nil {
		return err
	}
	if n := s.Up.DropHeld + s.Down.DropHeld; n > 0 {
		if _, err := fmt.Fprintf(out, "held: %s dropped (up %d, down %d) because the proxy already held --max-held %d bytes for delay, reordering and rate\n",
			plural(n, "datagram"), s.Up.DropHeld, s.Down.DropHeld, s.MaxHeld); err != nil {
			return err
		}
	}
	if s.RcvbufDropsKnown && s.RcvbufDrops > 0 {
		_, err := fmt.Fprintf(out, "kernel: %s dropped because the proxy's receive buffers were full (the proxy did not keep up)\n",
			plural(s.RcvbufDrops, "datagram"))
		return err
	}
	return nil
}
