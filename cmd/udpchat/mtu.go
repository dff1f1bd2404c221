package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/pmtu"
)

func mtuCommand() *cli.Command {
	return &cli.Command{
		Name:      "mtu",
		Usage:     "find the largest datagram that crosses the path to an echo server (path MTU)",
		ArgsUsage: "HOST:PORT",
		Description: "Sends probes with don't-fragment set to an echo server (udpchat listen --echo, socat, any\n" +
			"server that sends each datagram back) and counts a size as crossing the path only when\n" +
			"its echo returns: DPLPMTUD, RFC 8899. A router whose next hop is too small drops a DF\n" +
			"packet and answers ICMP \"fragmentation needed\" (IPv6: \"packet too big\") with that hop's\n" +
			"MTU: the size it names is probed next, so a path that answers takes four probes. Where\n" +
			"a firewall drops those messages, a size counts as too big after --tries probes without\n" +
			"an echo, and the search bisects, trying common MTUs first. Sizes are IP packets:\n" +
			"payload plus 28 bytes of headers over IPv4, 48 over IPv6. Like tracepath, one line per\n" +
			"probe, then the path MTU and the UDP payload it leaves. Exit status 0 when the search\n" +
			"completed, 1 when nothing was echoed.\n\n" +
			"Examples:\n" +
			"  udpchat listen :9000 --echo                # on the far host\n" +
			"  udpchat mtu 198.18.2.2:9000\n" +
			"  udpchat mtu [2001:db8:2::2]:9000 --json",
		Flags: []cli.Flag{
			&cli.GenericFlag{Name: "timeout", Aliases: []string{"t"}, Value: &durationValue{}, Usage: "wait `D` for each probe's echo (0: adapt, 1s until the first echo, then 4 round trips, at least 200ms)"},
			&cli.IntFlag{Name: "tries", Value: pmtu.DefaultTries, Usage: "take a size for too big after `N` probes without an echo (RFC 8899's MAX_PROBES)"},
			&cli.GenericFlag{Name: "max", Value: &sizeValue{}, Usage: "consider packets of at most `BYTES` (default: the MTU of the interface the probes leave by)"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON lines: one object per probe and a summary"},
		},
		Action: runMTU,
	}
}

type mtuStartJSON struct {
	Type        string `json:"type"`
	To          string `json:"to"`
	Iface       string `json:"iface,omitempty"`
	IfaceMTU    int    `json:"iface_mtu,omitempty"`
	KernelMTU   int    `json:"kernel_mtu,omitempty"`
	Max         int    `json:"max"`
	HeaderBytes int    `json:"header_bytes"`
	Tries       int    `json:"tries"`
}

type mtuProbeJSON struct {
	Type      string   `json:"type"`
	Probe     int      `json:"probe"`
	Size      int      `json:"size"`
	Payload   int      `json:"payload"`
	Try       int      `json:"try"`
	Result    string   `json:"result"`
	RTTms     *float64 `json:"rtt_ms,omitempty"`
	Late      bool     `json:"late,omitempty"`
	TimeoutMs *float64 `json:"timeout_ms,omitempty"`
	MTU       int      `json:"mtu,omitempty"`
	From      string   `json:"from,omitempty"`
	Local     bool     `json:"local,omitempty"`
	TooBig    bool     `json:"too_big,omitempty"`
}

type mtuEndJSON struct {
	Type      string `json:"type"`
	Complete  bool   `json:"complete"`
	Bound     string `json:"bound"`
	KernelMTU int    `json:"kernel_mtu"`
}

type mtuSummaryJSON struct {
	Type       string `json:"type"`
	PathMTU    int    `json:"path_mtu"`
	MaxPayload int    `json:"max_payload"`
	Probes     int    `json:"probes"`
}

func runMTU(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef(c, "mtu needs one destination HOST:PORT (an echo server), for example: udpchat mtu 198.18.2.2:9000")
	}
	tries := c.Int("tries")
	if tries < 1 || tries > 100 {
		return usagef(c, "--tries must be from 1 to 100, got %d", tries)
	}
	var maxSize int
	if n, set := sizeFlag(c, "max"); set {
		if n < pmtu.Min4 || n > pmtu.Max6 {
			return usagef(c, "--max must be from %d to %d bytes, got %d", pmtu.Min4, pmtu.Max6, n)
		}
		maxSize = int(n)
	}
	dst, err := dgram.Resolve(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	conn, err := dgram.DialAddrPort(dst, netip.AddrPort{})
	if err != nil {
		return err
	}
	defer conn.Close()
	out := c.App.Writer
	var js *jsonWriter
	if c.Bool("json") {
		js = newJSONWriter(out)
	}
	m := &mtuPrinter{w: out, js: js}
	o := pmtu.Options{Config: pmtu.Config{Tries: tries, Max: maxSize}, Timeout: durationFlag(c, "timeout"), OnEvent: m.event}
	if dst.Addr().Is6() && maxSize > 0 && maxSize < pmtu.Min6 {
		return usagef(c, "--max %d is below IPv6's minimum MTU of %d", maxSize, pmtu.Min6)
	}
	o.OnStart = m.start
	rep, err := pmtu.Run(c.Context, conn, o)
	if perr := m.end(rep); perr != nil && err == nil {
		err = perr
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		if rep.PathMTU > 0 {
			return fmt.Errorf("interrupted: the path to %s carries at least %d bytes (%d of payload); the search did not finish", dst.Addr(), rep.PathMTU, rep.MaxPayload)
		}
		return errors.New("interrupted before any probe was echoed")
	case errors.Is(err, pmtu.ErrNoEcho):
		return fmt.Errorf("no echo from %s to %s: is an echo server running there (udpchat listen --echo)?", dst, plural(uint64(rep.Probes), "probe"))
	}
	return err
}

func overhead(dst netip.AddrPort) int {
	if dst.Addr().Unmap().Is4() {
		return pmtu.Overhead4
	}
	return pmtu.Overhead6
}

// mtuPrinter prints the probes as tracepath prints hops.
type mtuPrinter struct {
	w   io.Writer
	js  *jsonWriter
	err error
	opt string // the option that reads the kernel's path MTU: IP_MTU, or IPV6_MTU
}

func (m *mtuPrinter) printf(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format, args...)
	}
}

func (m *mtuPrinter) json(v any) {
	if m.err == nil {
		m.err = m.js.write(v)
	}
}

func (m *mtuPrinter) start(rep pmtu.Report, cfg pmtu.Config) {
	ov := cfg.Overhead()
	if m.js != nil {
		m.json(mtuStartJSON{Type: "start", To: rep.Peer.String(), Iface: rep.Iface, IfaceMTU: rep.IfaceMTU,
			KernelMTU: rep.KernelBefore, Max: cfg.Max, HeaderBytes: ov, Tries: cfg.Tries})
		return
	}
	fam := "IPv4"
	m.opt = "IP_MTU"
	if cfg.IPv6 {
		fam, m.opt = "IPv6", "IPV6_MTU"
	}
	m.printf("mtu %s: probes with don't-fragment set, each confirmed by its echo (RFC 8899)\n", rep.Peer)
	m.printf("     sizes are IP packets: the UDP payload plus %d bytes of %s and UDP headers\n", ov, fam)
	iface := rep.Iface
	if iface == "" {
		iface = "the route, " + m.opt
	}
	m.printf(" 0?: [LOCALHOST]                    pmtu %d (%s)\n", cfg.Max, iface)
	if rep.KernelBefore > 0 && rep.KernelBefore < cfg.Max {
		m.printf("     the kernel already believes %d for this destination (%s: an earlier ICMP message); the probes check it\n", rep.KernelBefore, m.opt)
	}
}

func (m *mtuPrinter) event(e pmtu.Event) {
	if m.js != nil {
		p := mtuProbeJSON{Type: "probe", Probe: e.Probe, Size: e.Size, Payload: e.Payload, Try: e.Try, Result: e.Kind.String(), Late: e.Late, TooBig: e.Failed}
		switch e.Kind {
		case pmtu.Echo:
			v := ms(e.RTT)
			p.RTTms = &v
		case pmtu.Lost:
			v := ms(e.Timeout)
			p.TimeoutMs = &v
		case pmtu.TooBig:
			p.MTU, p.Local = e.MTU, e.Local
			if e.From.IsValid() {
				p.From = e.From.String()
			}
		}
		m.json(p)
		return
	}
	head := fmt.Sprintf("%2d:  %5d bytes", e.Probe, e.Size)
	switch e.Kind {
	case pmtu.Echo:
		late := ""
		if e.Late {
			late = " (late: after its timer)"
		}
		m.printf("%s  echoed%s %12.3f ms\n", head, padTo(late, 8), ms(e.RTT))
	case pmtu.Lost:
		what := fmt.Sprintf("no echo within %v (try %d of %d)", e.Timeout.Round(time.Millisecond), e.Try, e.Tries)
		if e.Failed {
			what += ": too big, or lost"
		}
		m.printf("%s  %s\n", head, what)
	case pmtu.TooBig:
		who, how := "this host", "the interface's MTU"
		if !e.Local {
			who, how = "the network", "ICMP fragmentation needed"
			if e.From.IsValid() {
				who = e.From.String()
			}
			if e.From.Is6() {
				how = "ICMPv6 packet too big"
			}
		}
		if e.MTU > 0 {
			m.printf("%s  too big: pmtu %d from %s (%s)\n", head, e.MTU, who, how)
		} else {
			m.printf("%s  too big, said %s (%s)\n", head, who, how)
		}
	}
}

func padTo(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

func (m *mtuPrinter) end(rep pmtu.Report) error {
	if m.js != nil {
		m.json(mtuEndJSON{Type: "end", Complete: rep.Complete, Bound: rep.Bound.String(), KernelMTU: rep.KernelMTU})
		m.json(mtuSummaryJSON{Type: "summary", PathMTU: rep.PathMTU, MaxPayload: rep.MaxPayload, Probes: rep.Probes})
		return m.err
	}
	if rep.PathMTU == 0 {
		m.printf("     Resume: no probe was echoed (%s)\n", plural(uint64(rep.Probes), "probe"))
		return m.err
	}
	m.printf("     Resume: pmtu %d: %d bytes of UDP payload per datagram (%s)\n", rep.PathMTU, rep.MaxPayload, plural(uint64(rep.Probes), "probe"))
	switch {
	case !rep.Complete:
	case rep.Bound == pmtu.BoundRoute:
		m.printf("     the whole route's MTU crosses the path: nothing larger leaves this host without fragmenting\n")
	case rep.Bound == pmtu.BoundICMP && rep.KernelMTU == rep.PathMTU:
		m.printf("     a router said so (ICMP), and the kernel learned it too: %s now reads %d\n", m.opt, rep.KernelMTU)
	case rep.Bound == pmtu.BoundICMP:
		m.printf("     a router said so (ICMP)\n")
	case rep.Bound == pmtu.BoundLost && rep.KernelMTU > rep.PathMTU:
		m.printf("     found without ICMP: %d bytes got no echo. The kernel still believes %d (%s): no ICMP message reached it,\n", rep.PathMTU+1, rep.KernelMTU, m.opt)
		m.printf("     so datagrams of %d to %d bytes sent with don't-fragment would vanish without an error (a PMTU black hole)\n", rep.MaxPayload+1, rep.KernelMTU-(rep.PathMTU-rep.MaxPayload))
	case rep.Bound == pmtu.BoundLost:
		m.printf("     found without ICMP: %d bytes got no echo\n", rep.PathMTU+1)
	}
	return m.err
}
