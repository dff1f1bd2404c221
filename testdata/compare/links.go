package main

import (
	"fmt"
	"strings"
)

// A link is one network the transfers cross: direct on loopback, or
// through `udpchat proxy` with these impairment flags (both directions).
type link struct {
	name  string   // for -links and JSON
	label string   // for the table
	args  []string // udpchat proxy's impairment flags; nil: no proxy
}

// allLinks are the links of issue 13, in the table's order.
var allLinks = []link{
	{name: "clean", label: "clean, direct (no proxy)"},
	{name: "delay-loss", label: "`--delay 5ms --loss 1%` (5 ms each way)", args: []string{"--delay", "5ms", "--loss", "1%"}},
	{name: "loss", label: "`--loss 5%`", args: []string{"--loss", "5%"}},
	{name: "bottleneck", label: "`--rate 50mbit --queue 100 --delay 5ms`", args: []string{"--rate", "50mbit", "--queue", "100", "--delay", "5ms"}},
	{name: "reorder", label: "`--reorder 30% --reorder-gap 8 --reorder-hold 20ms`", args: []string{"--reorder", "30%", "--reorder-gap", "8", "--reorder-hold", "20ms"}},
}

// pickLinks reads -links.
func pickLinks(s string) ([]link, error) {
	if strings.TrimSpace(s) == "all" {
		return allLinks, nil
	}
	var out []link
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, l := range allLinks {
			if l.name == name {
				out, found = append(out, l), true
			}
		}
		if !found {
			var names []string
			for _, l := range allLinks {
				names = append(names, l.name)
			}
			return nil, fmt.Errorf("-links: unknown link %q (have %s, or all)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// The peers.
const (
	peerUdpchat = "udpchat"
	peerQUIC    = "quic-go"
	peerKCP     = "kcp-go"
)

var allPeers = []string{peerUdpchat, peerQUIC, peerKCP}

func isPeer(s string) bool {
	for _, p := range allPeers {
		if p == s {
			return true
		}
	}
	return false
}
