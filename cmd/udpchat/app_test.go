package main

import (
	"bufio"
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		// flags after positionals move before them
		{[]string{"u", "send", "127.0.0.1:9", "hi", "--wait"}, []string{"u", "send", "--wait", "--", "127.0.0.1:9", "hi"}},
		// a boolean flag never swallows the next word
		{[]string{"u", "send", "--wait", "127.0.0.1:9", "hi"}, []string{"u", "send", "--wait", "--", "127.0.0.1:9", "hi"}},
		// a valued flag takes the next word, wherever it is
		{[]string{"u", "send", "127.0.0.1:9", "--count", "3", "hi"}, []string{"u", "send", "--count", "3", "--", "127.0.0.1:9", "hi"}},
		{[]string{"u", "send", "127.0.0.1:9", "-c=3", "hi"}, []string{"u", "send", "-c=3", "--", "127.0.0.1:9", "hi"}},
		// -- ends the flags
		{[]string{"u", "send", "127.0.0.1:9", "--", "--literal", "-x"}, []string{"u", "send", "--", "127.0.0.1:9", "--literal", "-x"}},
		// "-" is a positional argument
		{[]string{"u", "listen", "-", "--json"}, []string{"u", "listen", "--json", "--", "-"}},
		// unknown flags stay flags, for urfave/cli to reject
		{[]string{"u", "send", "127.0.0.1:9", "--bogus", "x"}, []string{"u", "send", "--bogus", "--", "127.0.0.1:9", "x"}},
		// global flags and help pass through
		{[]string{"u", "--version"}, []string{"u", "--version"}},
		{[]string{"u", "help", "send"}, []string{"u", "help", "send"}},
		{[]string{"u", "listen", "--help"}, []string{"u", "listen", "--help"}},
		{[]string{"u"}, []string{"u"}},
	}
	for _, tt := range tests {
		app := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{})
		got, err := normalizeArgs(app, tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("normalizeArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := normalizeArgs(newApp(nil, nil, nil), []string{"u", "lisen"}); err == nil || exitCode(err) != 2 {
		t.Errorf("normalizeArgs(unknown command) = %v, want a usage error", err)
	}
}

// runCLI runs udpchat in-process and returns its exit status and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"udpchat"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndVersion(t *testing.T) {
	for _, cmd := range []string{"listen", "send", "chat"} {
		code, out, _ := runCLI(t, "", cmd, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "udpchat "+cmd) {
			t.Errorf("udpchat %s --help: exit %d, output lacks an example:\n%s", cmd, code, out)
		}
	}
	code, out, _ := runCLI(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "udpchat ") || !strings.Contains(out, "built with go") {
		t.Errorf("udpchat --version: exit %d, %q", code, out)
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"send"}, {"send", "x"}, {"send", "127.0.0.1:9", "--count", "x"}, {"listen", "--timeout", "-1s"},
		{"listen", "a", "b"}, {"nope"}, {"send", "127.0.0.1:9", "--size", "1q"}, {"chat", "--bind"},
	} {
		code, out, errs := runCLI(t, "", args...)
		if code != 2 {
			t.Errorf("udpchat %q: exit %d, want 2 (stderr %q)", args, code, errs)
		}
		if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "udpchat: ") || !(strings.Contains(errs, "--help") || strings.Contains(errs, "for example")) {
			t.Errorf("udpchat %q: stderr %q, want one line starting \"udpchat: \" with a hint", args, errs)
		}
		if out != "" {
			t.Errorf("udpchat %q: stdout %q, want nothing", args, out)
		}
	}
}

func TestParseUnits(t *testing.T) {
	sizes := map[string]int64{"1400": 1400, "64k": 65536, "8M": 8 << 20, "1KiB": 1024, "2g": 2 << 30, "0": 0}
	for in, want := range sizes {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5k", "k", "12x"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) succeeded, want an error", bad)
		}
	}
}

func TestShowPayload(t *testing.T) {
	tests := map[string]string{
		"hello":       "hello",
		"two words":   "two words",
		"hi\n":        `"hi\n"`,
		"a\x00b":      `"a\x00b"`,
		"\xff":        `"\xff"`,
		"héllo wörld": "héllo wörld",
		`"quoted"`:    `"\"quoted\""`,
		" edge":       `" edge"`,
		"":            "",
	}
	for in, want := range tests {
		if got := showPayload([]byte(in)); got != want {
			t.Errorf("showPayload(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestReadLine(t *testing.T) {
	in := "one\r\ntwo\n\n" + strings.Repeat("x", 20) + "\nlast"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	var got []string
	for {
		line, tooLong, err := readLine(br, 10)
		if err != nil {
			break
		}
		if tooLong {
			got = append(got, "<too long>")
			continue
		}
		got = append(got, string(line))
	}
	want := []string{"one", "two", "", "<too long>", "last"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readLine lines = %q, want %q", got, want)
	}
}
