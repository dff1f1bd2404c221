package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"

	"github.com/rogpeppe/go-internal/testscript"
)

var netpathCounter atomic.Uint64

// cmdNetpath runs `netpath [-noicmp] NAME`, for transcripts (README's
// mtu and --df examples) that need a real path with a smaller MTU: it
// builds client - router - server in three network namespaces, the
// router's link to the server with an MTU of 1280, as dgram/nstest does
// for Go tests (testscript has no testing.TB to give it), and sets
// $NAME_CLI, $NAME_RTR and $NAME_SRV to the namespaces' names, for `ip
// netns exec`. Addresses: client 198.18.1.2 and 2001:db8:1::2, router
// 198.18.1.1 / 198.18.2.1 and 2001:db8:1::1 / 2001:db8:2::1, server
// 198.18.2.2 and 2001:db8:2::2. With -noicmp the router drops the ICMP
// messages that say a packet is too big (nftables). The namespaces are
// deleted when the transcript ends. A transcript that uses it skips
// where namespaces cannot be made: [!root], [!tool:ip], [!tool:nft].
func cmdNetpath(ts *testscript.TestScript, neg bool, args []string) {
	noICMP := len(args) > 0 && args[0] == "-noicmp"
	if noICMP {
		args = args[1:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: netpath [-noicmp] NAME")
	}
	if os.Geteuid() != 0 {
		ts.Fatalf("netpath: network namespaces need root (guard the transcript with [!root] skip)")
	}
	run := func(stdin string, name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			ts.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	n := netpathCounter.Add(1)
	ns := map[string]string{}
	for _, role := range []string{"cli", "rtr", "srv"} {
		name := fmt.Sprintf("udpchat-ts%d-%d-%s", os.Getpid(), n, role)
		run("", "ip", "netns", "add", name)
		ts.Defer(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
		run("", "ip", "-n", name, "link", "set", "lo", "up")
		ns[role] = name
		ts.Setenv(args[0]+"_"+strings.ToUpper(role), name)
	}
	link := func(a, aDev, b, bDev string, mtu int, aAddrs, bAddrs []string) {
		run("", "ip", "-n", ns[a], "link", "add", aDev, "type", "veth", "peer", "name", bDev, "netns", ns[b])
		for _, e := range []struct {
			ns, dev string
			addrs   []string
		}{{ns[a], aDev, aAddrs}, {ns[b], bDev, bAddrs}} {
			if mtu > 0 {
				run("", "ip", "-n", e.ns, "link", "set", e.dev, "mtu", fmt.Sprint(mtu))
			}
			for _, p := range e.addrs {
				args := []string{"-n", e.ns, "addr", "add", p, "dev", e.dev}
				if strings.Contains(p, ":") {
					args = append(args, "nodad")
				}
				run("", "ip", args...)
			}
			run("", "ip", "-n", e.ns, "link", "set", e.dev, "up")
		}
	}
	link("cli", "eth0", "rtr", "eth0", 0, []string{"198.18.1.2/24", "2001:db8:1::2/64"}, []string{"198.18.1.1/24", "2001:db8:1::1/64"})
	link("rtr", "eth1", "srv", "eth0", 1280, []string{"198.18.2.1/24", "2001:db8:2::1/64"}, []string{"198.18.2.2/24", "2001:db8:2::2/64"})
	run("", "ip", "netns", "exec", ns["rtr"], "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")
	run("", "ip", "-n", ns["cli"], "route", "add", "198.18.2.0/24", "via", "198.18.1.1")
	run("", "ip", "-n", ns["cli"], "route", "add", "2001:db8:2::/64", "via", "2001:db8:1::1")
	run("", "ip", "-n", ns["srv"], "route", "add", "198.18.1.0/24", "via", "198.18.2.1")
	run("", "ip", "-n", ns["srv"], "route", "add", "2001:db8:1::/64", "via", "2001:db8:2::1")
	if noICMP {
		run(`table inet noicmp {
	chain out {
		type filter hook output priority 0; policy accept;
		icmp type destination-unreachable drop
		icmpv6 type packet-too-big drop
	}
}
`, "ip", "netns", "exec", ns["rtr"], "nft", "-f", "-")
	}
}
