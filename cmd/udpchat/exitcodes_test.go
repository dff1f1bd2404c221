package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"
)

// The exit status is one contract across commands: 0 success, 1 a
// failure at run time, 2 a usage error (found before anything is sent),
// 130 interrupted by Ctrl-C (143 by SIGTERM). These tests walk the
// commands to check it.

// commandPaths lists every command and subcommand, as argument prefixes.
func commandPaths(cmds []*cli.Command, prefix []string) [][]string {
	var paths [][]string
	for _, c := range cmds {
		if c.Hidden || c.Name == "help" {
			continue
		}
		p := append(append([]string{}, prefix...), c.Name)
		paths = append(paths, p)
		paths = append(paths, commandPaths(c.Subcommands, p)...)
	}
	return paths
}

func findPath(app *cli.App, path []string) *cli.Command {
	cmds := app.Commands
	var c *cli.Command
	for _, n := range path {
		c = findCommand(cmds, n)
		if c == nil {
			return nil
		}
		cmds = c.Subcommands
	}
	return c
}

// checkUsageError asserts exit 2, one line on stderr, nothing on stdout.
func checkUsageError(t *testing.T, args []string) {
	t.Helper()
	code, out, errs := runCLI(t, "", args...)
	if code != 2 {
		t.Errorf("udpchat %q: exit %d, want 2 (stderr %q)", args, code, errs)
		return
	}
	if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "udpchat: ") {
		t.Errorf("udpchat %q: stderr %q, want one line starting \"udpchat: \"", args, errs)
	}
	if out != "" {
		t.Errorf("udpchat %q: stdout %q, want nothing", args, out)
	}
}

// TestExitCodeWalkUsage: for every command, --help exits 0; an unknown
// flag exits 2; every flag that takes a typed value (a duration, a size,
// a count, a probability, a rate) exits 2 on a value that is none.
func TestExitCodeWalkUsage(t *testing.T) {
	app := newApp(nil, nil, nil)
	paths := commandPaths(app.Commands, nil)
	if len(paths) < 10 {
		t.Fatalf("found only %d commands: %q", len(paths), paths)
	}
	for _, path := range paths {
		code, out, errs := runCLI(t, "", append(append([]string{}, path...), "--help")...)
		if code != 0 || out == "" || errs != "" {
			t.Errorf("udpchat %s --help: exit %d, stdout %d bytes, stderr %q", strings.Join(path, " "), code, len(out), errs)
		}
		checkUsageError(t, append(append([]string{}, path...), "--no-such-flag"))
		for _, f := range findPath(app, path).Flags {
			name := f.Names()[0]
			var bad string
			switch fl := f.(type) {
			case *cli.GenericFlag:
				switch fl.Value.(type) {
				case *durationValue, *sizeValue, *probValue, *rateValue, *distValue, *scriptValue:
					bad = "bogus!"
				}
			case *cli.IntFlag, *cli.Uint64Flag, *cli.Float64Flag, *cli.UintFlag, *cli.Int64Flag:
				bad = "bogus!"
			case *cli.BoolFlag:
				checkUsageError(t, append(append([]string{}, path...), "--"+name+"=bogus!"))
			}
			if bad != "" {
				checkUsageError(t, append(append([]string{}, path...), "--"+name, bad))
			}
		}
	}
}

// TestExitCodeCombinations: a flag that cannot act in the combination
// given is refused (exit 2) with the reason, before anything happens.
func TestExitCodeCombinations(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"listen", "--idle", "5s"}, "--idle needs --reliable"},
		{[]string{"listen", "--reliable", "--output", file + ".out", "--count", "2"}, "--count counts messages; with --output"},
		{[]string{"listen", "--echo-rate", "5"}, "--echo-rate needs --echo"},
		{[]string{"send", "127.0.0.1:9", "--file", file, "--count", "2"}, "--count does not go with --file"},
		{[]string{"send", "127.0.0.1:9", "--reliable", "--count", "2"}, "--count repeats each MSG"},
		{[]string{"send", "127.0.0.1:9", "hi", "--idle", "3s"}, "--idle needs --reliable"},
		{[]string{"send", "127.0.0.1:9", "hi", "--interval", "1s"}, "--interval is the gap between datagrams"},
		{[]string{"send", "127.0.0.1:9", "--reliable", "--timeout", "1s", "hi"}, "--timeout does not go with --reliable"},
		{[]string{"ping", "127.0.0.1:9", "--count", "1", "--interval", "2s"}, "--interval is the gap between probes"},
		{[]string{"proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--queue", "10"}, "--queue needs --rate"},
		{[]string{"proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--up-queue", "10", "--down-rate", "1M"}, "--up-queue needs --up-rate"},
		{[]string{"proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--reorder-gap", "5"}, "--reorder-gap needs --reorder"},
		{[]string{"proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9", "--jitter-dist", "normal"}, "--jitter-dist needs --jitter"},
		{[]string{"proxy", "--listen", "127.0.0.1:9001", "--to", "127.0.0.1:9001"}, "is the proxy's own --listen"},
		{[]string{"proxy", "--listen", ":9001", "--to", "127.0.0.1:9001"}, "is the proxy's own --listen"},
		{[]string{"proxy", "--listen", "9001", "--to", "localhost:9001"}, "is the proxy's own --listen"},
		{[]string{"bench", "--busy-poll"}, "--busy-poll acts only in latency mode"},
		{[]string{"bench", "--mode", "latency", "--batch", "8"}, "--batch acts only in throughput mode"},
		{[]string{"bench", "server", "127.0.0.1:0", "--size", "100"}, "--size is the client's to choose"},
		{[]string{"demo", "boundaries", "--svg", filepath.Join(dir, "b.svg")}, "--svg does nothing in demo boundaries"},
		{[]string{"demo", "boundaries", "--loss", "10%"}, "--loss does nothing in demo boundaries"},
		{[]string{"demo", "reliable", "--svg", filepath.Join(dir, "r.svg")}, "--svg draws the scenarios of numbered datagrams"},
		{[]string{"demo", "--queue", "5"}, "--queue needs --rate"},
		{[]string{"completion"}, "completion takes one shell"},
		{[]string{"man", "extra"}, "man takes no arguments"},
		{[]string{"help", "nosuch"}, "no help for \"nosuch\""},
	} {
		checkUsageError(t, tc.args)
		if _, _, errs := runCLI(t, "", tc.args...); !strings.Contains(errs, tc.want) {
			t.Errorf("udpchat %q: stderr %q, want %q", tc.args, errs, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "b.svg")); err == nil {
		t.Error("demo boundaries --svg wrote a file")
	}
}

// TestExitCodeRuntime: failures at run time exit 1, with one line.
func TestExitCodeRuntime(t *testing.T) {
	free := freeAddr(t)
	for _, args := range [][]string{
		{"listen", "127.0.0.1:0", "--count", "1", "--timeout", "0.1"},
		{"send", free, "hello", "--wait", "--timeout", "2"},
		{"send", "no-such-host.invalid:9000", "hello"},
		{"ping", free, "--count", "2", "--interval", "0.01", "--timeout", "0.2"},
		{"chat", "no-such-host.invalid:9000"},
		{"proxy", "--listen", "127.0.0.1:0", "--to", "no-such-host.invalid:9000"},
	} {
		code, _, errs := runCLI(t, "", args...)
		if code != 1 {
			t.Errorf("udpchat %q: exit %d, want 1 (stderr %q)", args, code, errs)
		}
		if n := strings.Count(errs, "udpchat: "); n != 1 {
			t.Errorf("udpchat %q: %d error lines, want 1: %q", args, n, errs)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// TestExitCodeInterrupted: every command that runs until it is stopped
// exits 130 on Ctrl-C (SIGINT) and 143 on SIGTERM, having said what it
// did, and never prints "context canceled".
func TestExitCodeInterrupted(t *testing.T) {
	echo := startChild(t, "listen", "127.0.0.1:0", "--echo")
	echoAddr := echo.expectErr(`listening on (\S+)`)[1]
	free := freeAddr(t)
	for _, tc := range []struct {
		name  string
		args  []string
		ready string // a line on stderr (or, with "out:", stdout) once it runs
		input string // written to stdin once ready; stdin stays open
	}{
		{"listen", []string{"listen", "127.0.0.1:0"}, `listening on`, ""},
		{"listen --reliable", []string{"listen", "127.0.0.1:0", "--reliable"}, `listening on`, ""},
		{"proxy", []string{"proxy", "--listen", "127.0.0.1:0", "--to", free}, `proxying on`, ""},
		{"bench server", []string{"bench", "server", "127.0.0.1:0"}, `listening on`, ""},
		{"chat --bind", []string{"chat", "--bind", "127.0.0.1:0"}, `listening on`, ""},
		{"chat", []string{"chat", echoAddr}, `chatting with`, ""},
		{"ping", []string{"ping", echoAddr, "--count", "0", "--interval", "0.05"}, `out:bytes from`, ""},
		{"send (stdin)", []string{"send", echoAddr, "--wait"}, `out:reply from`, "hello\n"},
		{"demo", []string{"demo", "--delay", "60s"}, `this run takes about`, ""},
		{"demo fragments", []string{"demo", "fragments", "--count", "100000"}, `this run takes a while`, ""},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(tc.name+"/"+signalName(sig), func(t *testing.T) {
				c := startChildInput(t, tc.input, tc.args...)
				if out, ok := strings.CutPrefix(tc.ready, "out:"); ok {
					c.expectOut(out)
				} else {
					c.expectErr(tc.ready)
				}
				if err := c.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				code := c.wait()
				if want := 128 + int(sig); code != want {
					t.Errorf("exit %d, want %d", code, want)
				}
				var errs []string
				for l := range c.stderr {
					errs = append(errs, l)
				}
				all := strings.Join(errs, "\n")
				if strings.Contains(all, "context canceled") || strings.Contains(all, "closed network connection") ||
					strings.Count(all, "udpchat: ") > 1 || strings.Contains(all, "goroutine ") {
					t.Errorf("stderr after %s:\n%s", signalName(sig), all)
				}
			})
		}
	}
}
