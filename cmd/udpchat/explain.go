package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/udpchat/udpchat/dgram"
)

// explainFlag is --explain, on listen, send, chat and ping.
func explainFlag() cli.Flag {
	return &cli.BoolFlag{Name: "explain", Usage: "print each system call on the socket as it happens (stderr), with the Python and Go calls that do the same"}
}

// explainShown is how many calls of one kind --explain prints before it
// only counts them (a tally follows at the end).
const explainShown = 3

// explainer prints, for --explain, one line per system call on the
// socket as it happens, on stderr: the call as strace shows it, with its
// real descriptor, addresses, sizes and result; the textbook Python call
// that does the same; and the Go call that made it. The calls that move
// datagrams come from the socket layer itself (a dgram.Tracer); the calls
// that open the socket are the ones net.ListenUDP and net.DialUDP make,
// and the options the ones dgram sets, told once they are done (the
// tests check both against strace). Repeated reads and writes are
// printed explainShown times per kind, then counted. A nil *explainer
// explains nothing.
type explainer struct {
	mu        sync.Mutex
	w         io.Writer
	connected bool // a connected socket (send, ping, chat HOST:PORT)
	v6        bool // an AF_INET6 socket: the kernel gives IPv4 peers as ::ffff:a.b.c.d
	tallies   map[string]*tally
	order     []string
}

// tally counts the calls of one kind after the first few.
type tally struct {
	shown, more int
	datagrams   int
	bytes       int
}

// newExplainer returns an explainer when --explain is set.
func newExplainer(c *cli.Context) *explainer {
	if !c.Bool("explain") {
		return nil
	}
	return &explainer{w: c.App.ErrWriter, tallies: map[string]*tally{}}
}

// tracer returns ex as a dgram.Tracer, or nil (an interface holding a nil
// *explainer would not be nil).
func (ex *explainer) tracer() dgram.Tracer {
	if ex == nil {
		return nil
	}
	return ex
}

// print writes one line: the call, then the Python and Go columns.
func (ex *explainer) print(call, py, goc string) {
	fmt.Fprintf(ex.w, "%-58s  Python: %-40s  Go: %s\n", call, py, goc)
}

func fdOf(c *net.UDPConn) int {
	fd := -1
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(f uintptr) { fd = int(f) })
	}
	return fd
}

func pyAddr(a netip.AddrPort) string {
	return fmt.Sprintf("(%q, %d)", a.Addr().Unmap().String(), a.Port())
}

// opened explains the calls net.ListenUDP (bind) or net.DialUDP (connect,
// after a bind when a local address was given) made to open c. bound is
// the address c was asked to bind, as bind(2) got it (port 0 when the
// kernel chose the port, which getsockname then tells); the zero value
// when a connected socket was not bound first.
func (ex *explainer) opened(c *net.UDPConn, dial bool, bound netip.AddrPort) {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.connected = dial
	fd := fdOf(c)
	local := dgram.LocalAddrPort(c)
	v6 := local.Addr().Is6() && !local.Addr().Is4In6()
	ex.v6 = v6
	fam, pyFam := "AF_INET", "socket.AF_INET"
	if v6 {
		fam, pyFam = "AF_INET6", "socket.AF_INET6"
	}
	goc := "net.ListenUDP"
	if dial {
		goc = "net.DialUDP"
	}
	ex.print(fmt.Sprintf("socket(%s, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = %d", fam, fd),
		fmt.Sprintf("s = socket.socket(%s, socket.SOCK_DGRAM)", pyFam), goc+" (non-blocking: Go waits in its poller, not in the kernel)")
	if v6 {
		only := 1
		if local.Addr().IsUnspecified() {
			only = 0 // [::] takes IPv4 too (dual-stack)
		}
		ex.print(fmt.Sprintf("setsockopt(%d, SOL_IPV6, IPV6_V6ONLY, [%d], 4) = 0", fd, only),
			fmt.Sprintf("s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, %d)", only), goc+" (IPv4 too only on [::])")
	}
	ex.print(fmt.Sprintf("setsockopt(%d, SOL_SOCKET, SO_BROADCAST, [1], 4) = 0", fd),
		"s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)", goc+" (Go allows broadcast on every UDP socket)")
	if !dial || bound.IsValid() {
		if !bound.IsValid() {
			bound = local
		}
		ex.print(fmt.Sprintf("bind(%d, %s) = 0", fd, bound), fmt.Sprintf("s.bind(%s)", pyAddr(bound)), goc)
	}
	if dial {
		peer := remoteAddrPort(c)
		ex.print(fmt.Sprintf("connect(%d, %s) = 0", fd, peer), fmt.Sprintf("s.connect(%s)", pyAddr(peer)),
			"net.DialUDP (UDP sends nothing: the kernel just fixes the peer)")
	}
	ex.print(fmt.Sprintf("getsockname(%d) = 0: %s", fd, local), "s.getsockname()", goc+" (learns the port the kernel chose)")
	if dial {
		ex.print(fmt.Sprintf("getpeername(%d) = 0: %s", fd, remoteAddrPort(c)), "s.getpeername()", "net.DialUDP")
	}
}

// connOptions explains the options dgram.NewConn sets and reads on c for
// cfg, in its order: the destination address and the TTL of each
// datagram (through golang.org/x/net), then the socket's family and
// whether it can send segments in one call (GSO).
func (ex *explainer) connOptions(c *net.UDPConn, cfg dgram.ConnConfig) {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	fd := fdOf(c)
	local := dgram.LocalAddrPort(c)
	v6 := local.Addr().Is6() && !local.Addr().Is4In6()
	dom := "AF_INET"
	if v6 {
		dom = "AF_INET6"
	}
	domain := func(why string) {
		ex.print(fmt.Sprintf("getsockopt(%d, SOL_SOCKET, SO_DOMAIN) = 0: %s", fd, dom), "s.family", "dgram: "+why)
	}
	set := func(level, opt, pyLevel, pyOpt, why string) {
		ex.print(fmt.Sprintf("setsockopt(%d, %s, %s, [1], 4) = 0", fd, level, opt),
			fmt.Sprintf("s.setsockopt(%s, %s, 1)", pyLevel, pyOpt), why)
	}
	if cfg.Dst && local.Addr().IsUnspecified() {
		domain("which options? IPv4's, IPv6's, or both")
		if v6 {
			set("SOL_IPV6", "IPV6_RECVPKTINFO", "socket.IPPROTO_IPV6", "socket.IPV6_RECVPKTINFO", "dgram.EnableDst: the address each datagram was sent to (to answer from it)")
		}
		set("SOL_IP", "IP_PKTINFO", "socket.IPPROTO_IP", "socket.IP_PKTINFO", "dgram.EnableDst: the address each datagram was sent to (to answer from it)")
	}
	if cfg.TTL {
		domain("which options? IPv4's, IPv6's, or both")
		if v6 {
			set("SOL_IPV6", "IPV6_RECVHOPLIMIT", "socket.IPPROTO_IPV6", "socket.IPV6_RECVHOPLIMIT", "dgram.EnableTTL: the hop limit each datagram arrived with")
		}
		set("SOL_IP", "IP_RECVTTL", "socket.IPPROTO_IP", "socket.IP_RECVTTL", "dgram.EnableTTL: the TTL each datagram arrived with")
	}
	if cfg.Drops {
		set("SOL_SOCKET", "SO_RXQ_OVFL", "socket.SOL_SOCKET", "40", "dgram.EnableDropCounter: the kernel's drop count on each datagram")
	}
	if cfg.GRO {
		set("SOL_UDP", "UDP_GRO", "socket.SOL_UDP", "104", "dgram.EnableGRO: many datagrams in one read")
	}
	domain("IPv4 or IPv6 addresses in its batches?")
	ex.print(fmt.Sprintf("getsockopt(%d, SOL_UDP, UDP_SEGMENT) = 0: 0", fd), "s.getsockopt(socket.SOL_UDP, 103)",
		"dgram.NewConn: can this kernel send many datagrams in one call (GSO)?")
}

// recvTTL explains dgram.EnableTTL, which --pcap asks for so that a
// capture records the TTL each datagram arrived with.
func (ex *explainer) recvTTL(c *net.UDPConn) {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	fd := fdOf(c)
	v6 := dgram.LocalAddrPort(c).Addr().Is6() && !dgram.LocalAddrPort(c).Addr().Is4In6()
	dom := "AF_INET"
	if v6 {
		dom = "AF_INET6"
	}
	ex.print(fmt.Sprintf("getsockopt(%d, SOL_SOCKET, SO_DOMAIN) = 0: %s", fd, dom), "s.family", "dgram.EnableTTL: which options? IPv4's, IPv6's, or both")
	if v6 {
		ex.print(fmt.Sprintf("setsockopt(%d, SOL_IPV6, IPV6_RECVHOPLIMIT, [1], 4) = 0", fd), "s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)",
			"dgram.EnableTTL: the hop limit each datagram arrived with, for --pcap")
	}
	ex.print(fmt.Sprintf("setsockopt(%d, SOL_IP, IP_RECVTTL, [1], 4) = 0", fd), "s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTTL, 1)",
		"dgram.EnableTTL: the TTL each datagram arrived with, for --pcap")
}

// recvErr explains chat --bind's request for ICMP errors (IP_RECVERR and
// IPV6_RECVERR; the IPv6 one fails on an IPv4 socket).
func (ex *explainer) recvErr(c *net.UDPConn) {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	fd := fdOf(c)
	ex.print(fmt.Sprintf("setsockopt(%d, SOL_IP, IP_RECVERR, [1], 4) = 0", fd), "s.setsockopt(socket.IPPROTO_IP, 11, 1)",
		"unix.SetsockoptInt: which peer an ICMP error is about")
	res := "0"
	if l := dgram.LocalAddrPort(c).Addr(); !l.Is6() || l.Is4In6() {
		res = "-1 ENOPROTOOPT"
	}
	ex.print(fmt.Sprintf("setsockopt(%d, SOL_IPV6, IPV6_RECVERR, [1], 4) = %s", fd, res), "s.setsockopt(socket.IPPROTO_IPV6, 25, 1)",
		"unix.SetsockoptInt (the same, for IPv6; an IPv4 socket refuses it)")
}

// meminfo explains the drop counter the summary reads next (through
// dgram.KernelDrops; the count is in the summary).
func (ex *explainer) meminfo(c *net.UDPConn) {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.print(fmt.Sprintf("getsockopt(%d, SOL_SOCKET, SO_MEMINFO) = 0", fdOf(c)), "s.getsockopt(socket.SOL_SOCKET, 55, 36)",
		"dgram.KernelDrops: how many datagrams the kernel dropped for a full receive buffer")
}

// df explains send --df: don't fragment (pmtu.SetDF with Do).
func (ex *explainer) df(c *net.UDPConn) {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	fd := fdOf(c)
	ex.domain(c, "pmtu.SetDF: which options? IPv4's, or IPv6's and IPv4's")
	if l := dgram.LocalAddrPort(c).Addr(); l.Is6() && !l.Is4In6() {
		ex.print(fmt.Sprintf("setsockopt(%d, SOL_IPV6, IPV6_MTU_DISCOVER, [2], 4) = 0", fd),
			"s.setsockopt(socket.IPPROTO_IPV6, 23, 2)", "pmtu.SetDF: IPV6_PMTUDISC_DO, never fragment")
		ex.print(fmt.Sprintf("setsockopt(%d, SOL_IPV6, IPV6_DONTFRAG, [1], 4) = 0", fd),
			"s.setsockopt(socket.IPPROTO_IPV6, 62, 1)", "pmtu.SetDF: not even this host fragments")
		ex.print(fmt.Sprintf("setsockopt(%d, SOL_IP, IP_MTU_DISCOVER, [2], 4) = 0", fd),
			"s.setsockopt(socket.IPPROTO_IP, 10, 2)", "pmtu.SetDF: the same for IPv4 peers")
		return
	}
	ex.print(fmt.Sprintf("setsockopt(%d, SOL_IP, IP_MTU_DISCOVER, [2], 4) = 0", fd),
		"s.setsockopt(socket.IPPROTO_IP, 10, 2)", "pmtu.SetDF: IP_PMTUDISC_DO, DF on every datagram")
}

// domain explains the SO_DOMAIN query with which package pmtu picks
// IPv4's options or IPv6's; under mu.
func (ex *explainer) domain(c *net.UDPConn, why string) {
	dom := "AF_INET"
	if l := dgram.LocalAddrPort(c).Addr(); l.Is6() && !l.Is4In6() {
		dom = "AF_INET6"
	}
	ex.print(fmt.Sprintf("getsockopt(%d, SOL_SOCKET, SO_DOMAIN) = 0: %s", fdOf(c), dom), "s.family", why)
}

// pathMTU explains how dfError read the path MTU, mtu (0: the read
// failed), after EMSGSIZE (the error names it).
func (ex *explainer) pathMTU(c *net.UDPConn, mtu int) {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.domain(c, "pmtu.PathMTU: IPv4's option or IPv6's?")
	level, opt, py := "SOL_IP", "IP_MTU", "s.getsockopt(socket.IPPROTO_IP, 14)"
	if l := dgram.LocalAddrPort(c).Addr(); l.Is6() && !l.Is4In6() {
		level, opt, py = "SOL_IPV6", "IPV6_MTU", "s.getsockopt(socket.IPPROTO_IPV6, 24)"
	}
	res := "-1"
	if mtu > 0 {
		res = fmt.Sprintf("0: %d", mtu)
	}
	ex.print(fmt.Sprintf("getsockopt(%d, %s, %s) = %s", fdOf(c), level, opt, res), py, "pmtu.PathMTU: the path MTU the kernel learned (ICMP)")
}

// buffers explains listen --rcvbuf: the request, and what was granted.
func (ex *explainer) buffers(c *net.UDPConn, asked, got int) {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	fd := fdOf(c)
	ex.print(fmt.Sprintf("setsockopt(%d, SOL_SOCKET, SO_RCVBUF, [%d], 4) = 0", fd, asked),
		fmt.Sprintf("s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, %d)", asked), "(*net.UDPConn).SetReadBuffer")
	ex.print(fmt.Sprintf("getsockopt(%d, SOL_SOCKET, SO_RCVBUF) = 0: %d", fd, got),
		"s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)", "dgram.SetBuffers: what the kernel granted (twice the request, capped)")
	ex.print(fmt.Sprintf("getsockopt(%d, SOL_SOCKET, SO_SNDBUF) = 0", fd),
		"s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)", "dgram.SetBuffers")
}

// write sends b on the connected socket c, explained.
func (ex *explainer) write(c *net.UDPConn, b []byte) (int, error) {
	return dgram.WriteTraced(c, b, ex.tracer())
}

// Syscall implements dgram.Tracer: one line per call, the first few of
// each kind; the rest are counted.
func (ex *explainer) Syscall(s *dgram.Syscall) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	outcome := "ok"
	if s.Errno != 0 {
		outcome = s.Errno.Error()
	}
	key := fmt.Sprintf("%s/%d/%s", s.Name, s.Flags, outcome)
	t := ex.tallies[key]
	if t == nil {
		t = &tally{}
		ex.tallies[key] = t
		ex.order = append(ex.order, key)
	}
	if t.shown >= explainShown {
		t.more++
		for _, d := range s.Datagrams {
			t.datagrams++
			t.bytes += d.Len
		}
		return
	}
	t.shown++
	call, py, goc := ex.describe(s)
	ex.print(call, py, goc)
	if t.shown == explainShown {
		fmt.Fprintf(ex.w, "%-58s  (more %s calls like this one are counted, not shown; a tally comes at the end)\n", "...", s.Name)
	}
}

// describe turns a system call into the three columns.
func (ex *explainer) describe(s *dgram.Syscall) (call, py, goc string) {
	flags := "0"
	if s.Flags&unix.MSG_DONTWAIT != 0 {
		flags = "MSG_DONTWAIT"
	}
	result := fmt.Sprint(s.Ret)
	if s.Errno != 0 {
		result = "-1 " + errnoName(s.Errno)
	}
	moved := func(dir string) string {
		var parts []string
		for i, d := range s.Datagrams {
			if i == 2 {
				parts = append(parts, fmt.Sprintf("and %d more", len(s.Datagrams)-2))
				break
			}
			p := plural(uint64(d.Len), "byte")
			if d.Segment > 0 {
				n := (d.Len + d.Segment - 1) / d.Segment
				p = fmt.Sprintf("%s in %s of %d (GSO: the kernel cuts them)", p, plural(uint64(n), "datagram"), d.Segment)
			}
			if a := d.Addr; a.IsValid() {
				if ex.v6 && a.Addr().Is4() { // as the kernel gives it: an IPv4-mapped IPv6 address
					a = netip.AddrPortFrom(netip.AddrFrom16(a.Addr().As16()), a.Port())
				}
				p += " " + dir + " " + a.String()
			}
			if d.Truncated {
				p += " (truncated)"
			}
			parts = append(parts, p)
		}
		if len(parts) == 0 {
			return ""
		}
		return ": " + strings.Join(parts, ", ")
	}
	recvPy := "data, addr = s.recvfrom(65536)"
	if ex.connected {
		recvPy = "data = s.recv(65536)"
	}
	switch s.Name {
	case "recvmmsg":
		call = fmt.Sprintf("recvmmsg(%d, %s, %s) = %s%s", s.FD, plural(uint64(s.Arg), "slot"), flags, result, moved("from"))
		py, goc = recvPy+" (one per datagram)", "dgram.Conn.ReadBatch: recvmmsg, up to "+plural(uint64(s.Arg), "datagram")+" in one call (x/sys/unix)"
	case "sendmmsg":
		call = fmt.Sprintf("sendmmsg(%d, %s, %s) = %s%s", s.FD, plural(uint64(s.Arg), "message"), flags, result, moved("to"))
		py, goc = "s.sendto(data, addr) (one per datagram)", "dgram.Conn.WriteBatch: sendmmsg, many datagrams in one call"
	case "recvmsg":
		call = fmt.Sprintf("recvmsg(%d, %d-byte buffer, %s) = %s%s", s.FD, s.Arg, flags, result, moved("from"))
		py = recvPy
		goc = "(*net.UDPConn).ReadMsgUDPAddrPort: recvmsg, not recvfrom, as it also reads control messages (TTL, destination)"
		if s.Flags&unix.MSG_DONTWAIT != 0 {
			py = recvPy[:len(recvPy)-1] + ", socket.MSG_DONTWAIT)"
			goc = "dgram.Reader.TryRead: anything queued? (never waits)"
		}
	case "write":
		call = fmt.Sprintf("write(%d, %d bytes) = %s", s.FD, s.Arg, result)
		py = "s.send(data)"
		goc = "(*net.UDPConn).Write: write(2), as the socket is connected (send(2) with no flags is the same call)"
	default:
		call = fmt.Sprintf("%s(%d) = %s", s.Name, s.FD, result)
	}
	if s.Errno == unix.EAGAIN {
		if s.Flags&unix.MSG_DONTWAIT != 0 {
			py += ": raises BlockingIOError"
		} else {
			py = "(a blocking socket waits inside the call)"
			goc = "nothing queued yet: the goroutine waits in the runtime's poller (epoll) until the socket is ready, then calls again"
		}
	}
	return call, py, goc
}

// errnoName is the symbol strace prints for an errno.
func errnoName(e unix.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprint(int(e))
}

// close prints the tally of the calls that were only counted.
func (ex *explainer) close() {
	if ex == nil {
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	for _, k := range ex.order {
		t := ex.tallies[k]
		if t.more == 0 {
			continue
		}
		name, rest, _ := strings.Cut(k, "/")
		_, outcome, _ := strings.Cut(rest, "/")
		what := ""
		if t.datagrams > 0 {
			what = fmt.Sprintf(": %s, %s", plural(uint64(t.datagrams), "datagram"), plural(uint64(t.bytes), "byte"))
		}
		if outcome != "ok" {
			what = " (" + outcome + ")"
		}
		fmt.Fprintf(ex.w, "%-58s  after the first %d shown\n", fmt.Sprintf("... %d more %s%s", t.more, name, what), explainShown)
	}
}
