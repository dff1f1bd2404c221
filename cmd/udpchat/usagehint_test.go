package main

import (
	"regexp"
	"strings"
	"testing"
)

var helpHintRE = regexp.MustCompile(`\(see '(udpchat[^']*--help)'\)`)

// TestUsageHintsNameRealHelp: the "(see 'udpchat ... --help')" that ends a
// usage error names a help that exists, for subcommands too ("udpchat
// join --help" is an unknown command; "udpchat room join --help" is the
// help of the command the user typed).
func TestUsageHintsNameRealHelp(t *testing.T) {
	for _, args := range [][]string{
		{"room", "serve", "--rate", "0"},
		{"room", "serve", "a", "b"},
		{"room", "serve", "--nosuch"},
		{"room", "join", "127.0.0.1:9"},
		{"room", "join", "127.0.0.1:9", "--nick", "a b"},
		{"room", "join", "--group", "239.255.0.1:9", "--iface", "nosuch0", "--nick", "a"},
		{"room", "nosuch"},
		{"listen", "--output", "x"},
		{"send"},
	} {
		code, _, errs := runCLI(t, "", args...)
		if code != 2 {
			t.Errorf("udpchat %q: exit %d, want 2 (stderr %q)", args, code, errs)
			continue
		}
		m := helpHintRE.FindStringSubmatch(errs)
		if m == nil {
			t.Errorf("udpchat %q: stderr %q has no (see '... --help')", args, errs)
			continue
		}
		help := strings.Fields(m[1])[1:]
		if want := len(args) > 1 && args[0] == "room" && (args[1] == "serve" || args[1] == "join"); want && help[1] != args[1] {
			t.Errorf("udpchat %q: the hint says %q, want the help of room %s", args, m[1], args[1])
		}
		if hc, out, herrs := runCLI(t, "", help...); hc != 0 || !strings.Contains(out, "USAGE:") {
			t.Errorf("udpchat %q: its hint %q exits %d (stderr %q), want the command's help", args, m[1], hc, herrs)
		}
	}
}
