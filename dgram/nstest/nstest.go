//go:build linux

// Package nstest builds small networks of Linux network namespaces for
// tests that need more than one host: a server with several addresses, a
// router between two links, a path whose second hop has a smaller MTU, a
// multicast group on a loopback of its own.
//
// Each namespace is created with "ip netns add", has its loopback up, and
// is deleted (with every veth inside it) by t.Cleanup. Links are veth
// pairs. Addresses must come from the ranges set aside for tests:
// 198.18.0.0/15 (RFC 2544) and 2001:db8::/32 (RFC 3849); New and Link
// refuse anything else, so a test cannot leak traffic onto a real network.
//
// Namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's
// "ip". Where they cannot be made, New skips the test and says why. CI
// runs as root and installs iproute2, so there the tests run.
//
// Code runs inside a namespace in two ways:
//
//   - ns.Do(f) runs f on an OS thread that has joined the namespace. A
//     socket opened by f (net.ListenUDP, net.DialUDP, ...) belongs to the
//     namespace for its whole life and may be used from any goroutine
//     afterwards. The thread goes back to the test's own namespace when f
//     returns.
//   - ns.Command(name, args...) runs a program inside it ("ip netns exec").
//
// A small example, two hosts on one link:
//
//	a, b := nstest.New(t), nstest.New(t)
//	nstest.Link(t, a, b, nstest.LinkOptions{
//		A: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
//		B: []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24")},
//	})
//	var srv *net.UDPConn
//	b.Do(func() (err error) { srv, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 9000}); return })
package nstest

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Test ranges: every address given to a namespace must lie in one of them.
var (
	// Range4 is the IPv4 benchmarking range of RFC 2544.
	Range4 = netip.MustParsePrefix("198.18.0.0/15")
	// Range6 is the IPv6 documentation range of RFC 3849.
	Range6 = netip.MustParsePrefix("2001:db8::/32")
)

// NS is one network namespace made for a test.
type NS struct {
	// Name is the namespace's name, as "ip netns" knows it.
	Name string

	t     testing.TB
	mu    sync.Mutex
	links int // veth devices created in this namespace so far
}

var (
	availOnce sync.Once
	availErr  error
	counter   atomic.Uint64
)

// Available reports why namespaces cannot be made here, or nil when they
// can: the process must be root and "ip" must be installed and able to add
// a namespace.
func Available() error {
	availOnce.Do(func() {
		if os.Geteuid() != 0 {
			availErr = fmt.Errorf("network namespaces need root (this test runs as uid %d)", os.Geteuid())
			return
		}
		if _, err := exec.LookPath("ip"); err != nil {
			availErr = fmt.Errorf("network namespaces need iproute2's ip command: %v", err)
			return
		}
		name := fmt.Sprintf("udpchat-probe-%d", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			availErr = fmt.Errorf("cannot create a network namespace: ip netns add: %v: %s", err, bytes.TrimSpace(out))
			return
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	return availErr
}

// New creates a namespace with its loopback up, deleted when the test
// ends. It skips the test when namespaces cannot be made (see Available).
func New(t testing.TB) *NS {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	ns := &NS{Name: fmt.Sprintf("udpchat-%d-%d", os.Getpid(), counter.Add(1)), t: t}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
		}
	})
	ns.IP("link", "set", "lo", "up")
	// No duplicate address detection in a namespace of our own: addresses,
	// link-local ones included, are usable the moment they are added
	// instead of staying tentative for a second or more on a busy machine.
	ns.Sysctl("net.ipv6.conf.all.accept_dad", "0")
	ns.Sysctl("net.ipv6.conf.default.accept_dad", "0")
	return ns
}

// IP runs "ip -n NAME args..." and fails the test if it fails. It returns
// the command's output.
func (ns *NS) IP(args ...string) string {
	ns.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		ns.t.Fatalf("ip -n %s %s: %v: %s", ns.Name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// Command returns a command that runs name with args inside the namespace.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs name with args inside the namespace, fails the test if it
// fails, and returns its combined output.
func (ns *NS) Run(name string, args ...string) string {
	ns.t.Helper()
	out, err := ns.Command(name, args...).CombinedOutput()
	if err != nil {
		ns.t.Fatalf("in %s: %s %s: %v: %s", ns.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// Do runs f on an OS thread that has joined the namespace and returns f's
// error. Sockets f opens belong to the namespace; so do the answers of
// net.Interfaces and the like when called inside f. When f returns, the
// thread goes back to the namespace it came from before any other
// goroutine may run on it; if it cannot, it stays locked and Go ends it.
//
// Going back matters: the thread may be the process's main thread, which
// Go never ends (it parks it for good instead), and /proc/net, /proc/self
// and the namespace of new threads follow the main thread. A main thread
// left in a test namespace hides the process's own sockets from
// /proc/net/udp.
func (ns *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread() // it never left
			errc <- fmt.Errorf("nstest: open this thread's namespace: %w", err)
			return
		}
		defer unix.Close(home)
		fd, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("nstest: open namespace %s: %w", ns.Name, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			// a failed setns changes nothing, but stay locked to be sure:
			// the thread dies with this goroutine
			errc <- fmt.Errorf("nstest: join namespace %s: %w", ns.Name, err)
			return
		}
		err = f()
		// back home before Do returns: then no thread but those of other
		// running Do calls is in a test namespace
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else it stays locked, and dies with this goroutine
		errc <- err
	}()
	return <-errc
}

// MustDo is Do that fails the test when f returns an error.
func (ns *NS) MustDo(f func() error) {
	ns.t.Helper()
	if err := ns.Do(f); err != nil {
		ns.t.Fatal(err)
	}
}

// Sysctl sets a sysctl inside the namespace, as "sysctl -w key=value"
// would (key with dots, as net.ipv4.ip_forward).
func (ns *NS) Sysctl(key, value string) {
	ns.t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	ns.MustDo(func() error {
		// /proc/sys/net shows the namespace of the thread that opens it
		return os.WriteFile(path, []byte(value), 0o644)
	})
}

// Forward turns IPv4 and IPv6 forwarding on: the namespace becomes a router.
func (ns *NS) Forward() {
	ns.t.Helper()
	ns.Sysctl("net.ipv4.ip_forward", "1")
	ns.Sysctl("net.ipv6.conf.all.forwarding", "1")
}

// AddAddr adds an address to a device of the namespace. IPv6 addresses
// skip duplicate address detection, so they are usable at once.
func (ns *NS) AddAddr(dev string, p netip.Prefix) {
	ns.t.Helper()
	checkRange(ns.t, p)
	args := []string{"addr", "add", p.String(), "dev", dev}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	ns.IP(args...)
}

// AddRoute routes dst through the gateway via.
func (ns *NS) AddRoute(dst netip.Prefix, via netip.Addr) {
	ns.t.Helper()
	checkRange(ns.t, dst)
	if !via.IsValid() || !(Range4.Contains(via) || Range6.Contains(via)) {
		ns.t.Fatalf("nstest: gateway %v is outside the test ranges %v and %v", via, Range4, Range6)
	}
	ns.IP("route", "add", dst.String(), "via", via.String())
}

// Nft loads an nftables ruleset into the namespace ("nft -f -"). It skips
// the test when nft is not installed.
func (ns *NS) Nft(ruleset string) {
	ns.t.Helper()
	NeedTool(ns.t, "nft")
	cmd := ns.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		ns.t.Fatalf("in %s: nft -f -: %v: %s", ns.Name, err, bytes.TrimSpace(out))
	}
}

// LinkOptions describes a veth pair between two namespaces.
type LinkOptions struct {
	// A and B are the addresses of each end (they may be empty).
	A, B []netip.Prefix
	// MTU of both ends; 0 keeps the default (1500).
	MTU int
}

// Link joins a and b with a veth pair, gives each end its addresses, sets
// the MTU and brings both ends up. It returns the names of the devices in
// a and in b ("eth0", "eth1", ... in the order each namespace got them).
func Link(t testing.TB, a, b *NS, opt LinkOptions) (aDev, bDev string) {
	t.Helper()
	for _, p := range append(append([]netip.Prefix{}, opt.A...), opt.B...) {
		checkRange(t, p)
	}
	aDev, bDev = a.nextDev(), b.nextDev()
	a.IP("link", "add", aDev, "type", "veth", "peer", "name", bDev, "netns", b.Name)
	for _, e := range []struct {
		ns    *NS
		dev   string
		addrs []netip.Prefix
	}{{a, aDev, opt.A}, {b, bDev, opt.B}} {
		if opt.MTU > 0 {
			e.ns.IP("link", "set", e.dev, "mtu", fmt.Sprint(opt.MTU))
		}
		for _, p := range e.addrs {
			e.ns.AddAddr(e.dev, p)
		}
		e.ns.IP("link", "set", e.dev, "up")
	}
	a.waitUp(aDev)
	b.waitUp(bDev)
	return aDev, bDev
}

// waitUp waits until dev is operationally up. The kernel brings a link
// up in two steps: "ip link set up" returns at once, and its queueing
// discipline is attached later by the link watcher, up to a second after;
// until then every datagram sent on it is dropped.
func (ns *NS) waitUp(dev string) {
	ns.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := ns.IP("-o", "link", "show", "dev", dev)
		// operstate UP is set just before the queueing discipline replaces
		// noop (which drops everything): wait for both
		if strings.Contains(out, "state UP") && !strings.Contains(out, "qdisc noop") {
			return
		}
		if time.Now().After(deadline) {
			ns.t.Fatalf("nstest: %s in %s is not up after 10s: %s", dev, ns.Name, strings.TrimSpace(out))
		}
		time.Sleep(5 * time.Millisecond) // polling a kernel state, not ordering goroutines
	}
}

func (ns *NS) nextDev() string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	d := fmt.Sprintf("eth%d", ns.links)
	ns.links++
	return d
}

func checkRange(t testing.TB, p netip.Prefix) {
	t.Helper()
	in := func(r netip.Prefix) bool { return r.Contains(p.Addr()) && p.Bits() >= r.Bits() }
	if !p.IsValid() || !in(Range4) && !in(Range6) {
		t.Fatalf("nstest: %v is outside the test ranges %v and %v", p, Range4, Range6)
	}
}

// NeedTool skips the test when the program name is not installed, saying
// so; when the environment variable CI is set (as .ci/run does), a missing
// program fails the test instead, since CI installs what tests need.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI should have installed it (.ci/run)", name)
	}
	t.Skipf("skipped: %s is not installed (apt-get install it, or run .ci/run)", name)
	return ""
}
