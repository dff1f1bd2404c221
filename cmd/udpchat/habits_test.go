package main

import (
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// ncLetters are the flags of nc (Debian's netcat-openbsd, `nc -h`), each
// with the long flags of udpchat that may use the letter because they mean
// what nc means by it; an empty list: no udpchat flag may take it.
var ncLetters = map[string][]string{
	"w": {"timeout"},      // -w timeout: for connects and final net reads
	"i": {"interval"},     // -i interval: delay between lines sent
	"s": {"from", "bind"}, // -s sourceaddr: local source address
	"C": {"crlf"},         // -C: send CRLF as line ending
	"q": {"linger"},       // -q secs: quit after EOF on stdin and a delay
	"l": {"listen"},       // -l: listen mode (proxy --listen ADDR)
	"W": {"count"},        // -W recvlimit: stop after N packets received
	"h": {"help"},         // -h: help
	"4": nil, "6": nil, "b": nil, "D": nil, "d": nil, "F": nil, "I": nil, "k": nil,
	"M": nil, "m": nil, "N": nil, "n": nil, "O": nil, "P": nil, "p": nil, "r": nil,
	"S": nil, "T": nil, "t": nil, "U": nil, "u": nil, "V": nil, "X": nil,
	"x": nil, "Z": nil, "z": nil,
}

// ncLikeCommands are the commands an nc user reaches for. ping follows
// ping(8) (-c -i -s -W) and bench iperf3 (-t -i -l -b -J) instead.
var ncLikeCommands = []string{"listen", "send", "chat", "proxy"}

// TestShortFlagsFollowNC: in the commands that do what nc does, a
// one-letter flag that nc has means what it means in nc.
func TestShortFlagsFollowNC(t *testing.T) {
	app := newApp(nil, nil, nil)
	for _, name := range ncLikeCommands {
		cmd := findCommand(app.Commands, name)
		if cmd == nil {
			t.Fatalf("no command %s", name)
		}
		for _, f := range cmd.Flags {
			long := f.Names()[0]
			for _, a := range f.Names()[1:] {
				if len(a) != 1 {
					continue
				}
				allowed, isNC := ncLetters[a]
				if !isNC {
					continue
				}
				ok := false
				for _, l := range allowed {
					ok = ok || l == long
				}
				if !ok {
					t.Errorf("udpchat %s: -%s means --%s, but nc's -%s means something else (allowed: %v)", name, a, long, a, allowed)
				}
			}
		}
	}
	// -k (keep listening) means nothing else anywhere.
	for _, cmd := range app.Commands {
		for _, f := range cmd.Flags {
			for _, a := range f.Names()[1:] {
				if a == "k" {
					t.Errorf("udpchat %s: -k means --%s; nc's -k keeps listening", cmd.Name, f.Names()[0])
				}
			}
		}
	}
}

// TestNCFlagHints: an nc flag udpchat does not take is explained.
func TestNCFlagHints(t *testing.T) {
	for _, letter := range []string{"u", "l", "k", "v", "n", "p", "4", "6", "z"} {
		code, _, errs := runCLI(t, "", "send", "-"+letter, "127.0.0.1:9")
		if code != 2 || !strings.Contains(errs, "unknown flag -"+letter+": ") {
			t.Errorf("udpchat send -%s: exit %d, %q; want a usage error that explains nc's -%s", letter, code, errs, letter)
		}
	}
}

// TestToolFlagHints: the sentences for ping(8)'s and iperf3's letters are
// for letters the command does not take (a hint never hides a flag).
func TestToolFlagHints(t *testing.T) {
	app := newApp(nil, nil, nil)
	for _, tc := range []struct {
		cmd   string
		hints map[string]string
	}{{"ping", pingFlags}, {"bench", iperf3Flags}} {
		var cmd *cli.Command
		for _, c := range app.Commands {
			if c.Name == tc.cmd {
				cmd = c
			}
		}
		if cmd == nil {
			t.Fatalf("no command %s", tc.cmd)
		}
		for letter := range tc.hints {
			for _, f := range cmd.Flags {
				for _, n := range f.Names() {
					if n == letter {
						t.Errorf("udpchat %s takes -%s (--%s), yet has a sentence for it as another tool's letter", tc.cmd, letter, f.Names()[0])
					}
				}
			}
			if got := flagHint(tc.cmd, "-"+letter); got != tc.hints[letter] {
				t.Errorf("flagHint(%s, -%s) = %q", tc.cmd, letter, got)
			}
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"500ms": 500 * time.Millisecond, "2s": 2 * time.Second, "1m30s": 90 * time.Second,
		"0.2": 200 * time.Millisecond, "5": 5 * time.Second, "0": 0, " 1 ": time.Second, "1e-3": time.Millisecond,
		"8760h": 8760 * time.Hour,
	}
	for in, want := range good {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "-1s", "nan", "inf", "1e99", "8761h", "5x", "0x10", "s", "1.5.2"} {
		if got, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]float64{
		"8mbit": 8e6, "100kbit": 1e5, "1gbit": 1e9, "500kbps": 4e6, "1000": 1000,
		"100M": 1e8, "1G": 1e9, "10K": 1e4, "2m": 2e6, "1T": 1e12, "1mibit": 1 << 20,
	}
	for in, want := range good {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1M", "M", "100X", "nan", "1e400"} {
		if got, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) = %v, want an error", bad, got)
		}
	}
}
