package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/nstest"
)

// routedPath builds client - router - server in three namespaces; the
// second hop has an MTU of 1280. With noICMP, the router drops the ICMP
// messages that say a packet is too big.
func routedPath(t *testing.T, noICMP bool) (cli, rtr, srv *nstest.NS) {
	t.Helper()
	cli, rtr, srv = nstest.New(t), nstest.New(t), nstest.New(t)
	p := netip.MustParsePrefix
	nstest.Link(t, cli, rtr, nstest.LinkOptions{
		A: []netip.Prefix{p("198.18.1.2/24"), p("2001:db8:1::2/64")},
		B: []netip.Prefix{p("198.18.1.1/24"), p("2001:db8:1::1/64")},
	})
	nstest.Link(t, rtr, srv, nstest.LinkOptions{
		A:   []netip.Prefix{p("198.18.2.1/24"), p("2001:db8:2::1/64")},
		B:   []netip.Prefix{p("198.18.2.2/24"), p("2001:db8:2::2/64")},
		MTU: 1280,
	})
	rtr.Forward()
	cli.AddRoute(p("198.18.2.0/24"), netip.MustParseAddr("198.18.1.1"))
	cli.AddRoute(p("2001:db8:2::/64"), netip.MustParseAddr("2001:db8:1::1"))
	srv.AddRoute(p("198.18.1.0/24"), netip.MustParseAddr("198.18.2.1"))
	srv.AddRoute(p("2001:db8:1::/64"), netip.MustParseAddr("2001:db8:2::1"))
	if noICMP {
		rtr.Nft(`table inet noicmp {
	chain out {
		type filter hook output priority 0; policy accept;
		icmp type destination-unreachable drop
		icmpv6 type packet-too-big drop
	}
}
`)
	}
	return cli, rtr, srv
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

// startIn starts `udpchat args...` inside ns and returns its announced
// address ("listening on ADDR" on stderr); it is killed when the test ends.
func startIn(t *testing.T, ns *nstest.NS, args ...string) netip.AddrPort {
	t.Helper()
	bin, err := exec.LookPath("udpchat") // installed by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(bin, args...)
	cmd.Env = childEnv(cmd.Environ())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("udpchat %s ended without announcing its address", strings.Join(args, " "))
		}
		return netip.MustParseAddrPort(a)
	case <-time.After(30 * time.Second):
		t.Fatalf("udpchat %s: no address announced within 30s", strings.Join(args, " "))
	}
	return netip.AddrPort{}
}

// runIn runs `udpchat args...` inside ns to its end.
func runIn(t *testing.T, ns *nstest.NS, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin, err := exec.LookPath("udpchat")
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(bin, args...)
	cmd.Env = childEnv(cmd.Environ())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("udpchat %s: %v", strings.Join(args, " "), err)
	}
	return code, o.String(), e.String()
}

// warmUpIn exchanges a small datagram with the echo server at dst from
// ns, so that neighbour discovery (a second on fresh IPv6 links) is done
// before the test measures anything.
func warmUpIn(t *testing.T, ns *nstest.NS, dst netip.AddrPort) {
	t.Helper()
	var c *net.UDPConn
	ns.MustDo(func() (err error) { c, err = dgram.DialAddrPort(dst, netip.AddrPort{}); return err })
	defer c.Close()
	buf := make([]byte, 64)
	for range 100 {
		if _, err := c.Write([]byte("warm-up")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "warm-up" {
			return
		}
	}
	t.Fatalf("no echo from %v within 10s", dst)
}

// TestMTUAcrossRouter runs `udpchat mtu` against `udpchat listen --echo`
// across a router whose second hop has an MTU of 1280, with the router's
// ICMP messages and with them dropped by nftables.
func TestMTUAcrossRouter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noICMP  bool
		srv     string
		payload int
		words   string
	}{
		{"IPv4/icmp", false, "198.18.2.2", 1252, "too big: pmtu 1280 from 198.18.1.1 (ICMP fragmentation needed)"},
		{"IPv4/no-icmp", true, "198.18.2.2", 1252, "The kernel still believes 1500 (IP_MTU): no ICMP message reached it"},
		{"IPv6/icmp", false, "2001:db8:2::2", 1232, "too big: pmtu 1280 from 2001:db8:1::1 (ICMPv6 packet too big)"},
		{"IPv6/no-icmp", true, "2001:db8:2::2", 1232, "The kernel still believes 1500 (IPV6_MTU): no ICMP message reached it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, _, srv := routedPath(t, tc.noICMP)
			dst := startIn(t, srv, "listen", net.JoinHostPort(tc.srv, "0"), "--echo")
			warmUpIn(t, cli, dst)
			// --timeout: an echo held up by a loaded machine must not pass
			// for a lost probe
			code, out, errs := runIn(t, cli, "mtu", dst.String(), "--json", "--timeout", "500ms")
			if code != 0 {
				t.Fatalf("udpchat mtu %v --json: exit %d: %s%s", dst, code, out, errs)
			}
			objs := jsonLines(t, out)
			last := objs[len(objs)-1]
			if last["type"] != "summary" || last["path_mtu"] != 1280.0 || last["max_payload"] != float64(tc.payload) {
				t.Errorf("last line %v, want a summary with path_mtu 1280, max_payload %d", last, tc.payload)
			}
			if n := len(byType(objs, "probe")); float64(n) < last["probes"].(float64) {
				t.Errorf("%d probe lines for %v probes", n, last["probes"])
			}
			code, out, errs = runIn(t, cli, "mtu", dst.String(), "--timeout", "500ms")
			t.Logf("udpchat mtu %v:\n%s", dst, out)
			if code != 0 || !strings.Contains(out, "Resume: pmtu 1280: "+fmt.Sprint(tc.payload)+" bytes of UDP payload") || !strings.Contains(out, tc.words) {
				t.Errorf("udpchat mtu %v: exit %d, output:\n%s%s\nwant the resume line and %q", dst, code, out, errs, tc.words)
			}
		})
	}
}

// TestSendDFAcrossRouter: `send --df` with more than the path carries
// fails, exit 1, naming the path MTU the router's ICMP message taught the
// kernel; without --df the same datagram is fragmented and arrives.
func TestSendDFAcrossRouter(t *testing.T) {
	cli, _, srv := routedPath(t, false)
	dst := startIn(t, srv, "listen", "198.18.2.2:0", "--echo")
	warmUpIn(t, cli, dst)
	code, _, errs := runIn(t, cli, "send", dst.String(), "--df", "--size", "1400")
	if code != 1 || !strings.Contains(errs, "the path to 198.18.2.2 carries at most 1280 bytes: 1252 of payload; send less") {
		t.Errorf("send --df --size 1400: exit %d, stderr %q; want 1 and the path MTU named", code, errs)
	}
	// the kernel remembers now: the next one fails at once
	code, _, errs = runIn(t, cli, "send", dst.String(), "--df", "--size", "1253", "--wait")
	if code != 1 || !strings.Contains(errs, "carries at most 1280 bytes: 1252 of payload") {
		t.Errorf("send --df --size 1253 --wait: exit %d, stderr %q", code, errs)
	}
	code, out, errs := runIn(t, cli, "send", dst.String(), "--df", "--size", "1252", "--wait")
	if code != 0 || !strings.Contains(out, "(1252 bytes,") {
		t.Errorf("send --df --size 1252 --wait: exit %d, %s%s; want the echo", code, out, errs)
	}
	code, out, errs = runIn(t, cli, "send", dst.String(), "--size", "1400", "--wait")
	if code != 0 || !strings.Contains(out, "(1400 bytes,") {
		t.Errorf("send --size 1400 --wait without --df: exit %d, %s%s; want the echo (fragmented on the way)", code, out, errs)
	}
}
