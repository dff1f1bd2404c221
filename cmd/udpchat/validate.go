package main

import (
	"context"
	"net"
	"net/netip"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/netem"
)

// Validation shared by the commands: a flag that cannot act in the
// combination given is a usage error (exit 2) with the reason, never
// ignored, and it is found before any socket is opened.

// refuseUnless refuses each of flags that is set when cond is false: those
// flags cannot act without it. why completes the sentence "--FLAG ...":
// "needs --reliable: ...", "acts only in latency mode".
func refuseUnless(c *cli.Context, cond bool, why string, flags ...string) error {
	if cond {
		return nil
	}
	for _, f := range flags {
		if c.IsSet(f) {
			return usagef(c, "--%s %s", f, why)
		}
	}
	return nil
}

// refuseAll refuses every flag of the command that is set, except keep.
func refuseAll(c *cli.Context, why string, keep ...string) error {
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if c.IsSet(name) && !contains(keep, name) {
			return usagef(c, "--%s %s", name, why)
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// impairDeps are the impairment flags that act only beside another.
var impairDeps = []struct {
	flag, needs string
	acts        func(netem.Config) bool
}{
	{"queue", "rate", func(c netem.Config) bool { return c.Rate > 0 }},
	{"reorder-gap", "reorder", func(c netem.Config) bool { return c.Reorder > 0 }},
	{"reorder-hold", "reorder", func(c netem.Config) bool { return c.Reorder > 0 || c.Script.Swaps() }}, // a script's swap waits as long
	{"jitter-dist", "jitter", func(c netem.Config) bool { return c.Jitter > 0 }},
	{"jitter-reorders", "jitter", func(c netem.Config) bool { return c.Jitter > 0 }},
}

// checkImpairDeps refuses an impairment flag that acts on none of the
// links it configures: feeds maps a flag prefix ("", "up-", "down-") to
// the configurations that flags with it end up in.
func checkImpairDeps(c *cli.Context, feeds map[string][]netem.Config) error {
	for prefix, cfgs := range feeds {
		for _, d := range impairDeps {
			name := prefix + d.flag
			if !c.IsSet(name) {
				continue
			}
			acts := false
			for _, cfg := range cfgs {
				acts = acts || d.acts(cfg)
			}
			if !acts {
				what := map[string]string{"rate": "only a rate-limited link queues", "reorder": "it shapes reordering",
					"jitter": "it shapes jitter"}[d.needs]
				if d.flag == "reorder-hold" {
					what = "it bounds how long a datagram is held back, by reordering or by a --script swap"
				}
				return usagef(c, "--%s needs --%s%s: %s", name, prefix, d.needs, what)
			}
		}
	}
	return nil
}

// checkProxyLoop refuses a proxy whose --to is its own --listen address:
// every datagram it forwarded would come back to it as a new client, one
// datagram becoming --max-clients of them.
func checkProxyLoop(c *cli.Context, listen string, target netip.AddrPort) error {
	host, port, wildcard, err := dgram.ParseListenAddr(listen)
	if err != nil || port == 0 || target.Port() != port {
		return nil
	}
	loop := false
	if ip, err := netip.ParseAddr(host); err == nil && !wildcard && !ip.IsUnspecified() {
		loop = ip.Unmap() == target.Addr().Unmap()
	} else if wildcard || err == nil && ip.IsUnspecified() {
		loop = isLocalAddr(target.Addr())
	} else if ap, err := dgram.ResolveListen(context.Background(), listen); err == nil {
		loop = ap.Addr().Unmap() == target.Addr().Unmap()
	}
	if loop {
		return usagef(c, "--to %s is the proxy's own --listen %s: every datagram it forwards would come back to it as a new client (a loop); give the server's address", target, listen)
	}
	return nil
}

// isLocalAddr reports whether ip is one of this machine's addresses.
func isLocalAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// benchModeFlags refuses the flags of bench's other mode, and on the
// server every flag but its own limits: the server answers what each
// client asks, within --max-duration, --max-rate and --no-busy.
func benchModeFlags(c *cli.Context, mode string) error {
	if c.Args().First() == "server" {
		keep := []string{"max-duration", "max-rate", "no-busy"}
		if c.IsSet("max-rate") {
			keep = append(keep, "size") // a bit rate in --max-rate counts datagrams of --size bytes
		}
		return refuseAll(c, "is the client's to choose: bench server answers whatever each client asks (give it to udpchat bench client)", keep...)
	}
	if err := refuseUnless(c, mode == "latency", "acts only in latency mode (--mode latency)", "busy-poll", "inflight"); err != nil {
		return err
	}
	return refuseUnless(c, mode == "throughput", "acts only in throughput mode (the default; not with --mode latency)", "rate", "batch", "offload", "interval")
}
