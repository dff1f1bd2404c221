package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestManPage renders `udpchat man` with groff, warnings on, and checks
// that every command and flag is in the text a reader sees.
func TestManPage(t *testing.T) {
	needTool(t, "groff")
	code, page, errs := runCLI(t, "", "man")
	if code != 0 {
		t.Fatalf("udpchat man: exit %d: %s", code, errs)
	}
	if !strings.HasPrefix(page, ".nh\n.TH UDPCHAT 1 ") {
		t.Errorf("udpchat man starts %q, want a section 1 title", page[:min(len(page), 40)])
	}
	path := filepath.Join(t.TempDir(), "udpchat.1")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-rLL=100n", path)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v, warnings:\n%s", err, stderr.String())
	}
	text := stripOverstrike(out.String())
	for _, want := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "ENVIRONMENT", "SEE ALSO",
		"udpchat - a netcat for UDP datagrams", "udpchat send HOST:PORT [MSG...] [flags]", "--wait", "--size N",
		"udpchat listen :9000 --echo", "UDPCHAT_KEY", "nc(1)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered man page lacks %q", want)
		}
	}
	app := newApp(nil, nil, nil)
	// every command and subcommand (room serve, room join), with its
	// synopsis and each of its flags in its own section
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			name := strings.TrimSpace(path + " " + c.Name)
			// its subsection: the heading, the synopsis, up to the next heading
			i := strings.Index(text, "\n   "+name+"\n       udpchat "+name)
			if i < 0 {
				t.Errorf("the man page lacks a section on command %s", name)
				continue
			}
			section := text[i+1:]
			if j := subsectionRE.FindStringIndex(section[1:]); j != nil {
				section = section[:j[0]+1]
			}
			for _, f := range c.Flags {
				if v, ok := f.(interface{ IsVisible() bool }); ok && !v.IsVisible() {
					continue
				}
				if !strings.Contains(section, "--"+f.Names()[0]) {
					t.Errorf("the man page's section on %s lacks --%s", name, f.Names()[0])
				}
			}
			walk(name, c.Subcommands)
		}
	}
	walk("", app.Commands)
	// Markdown must not have eaten anything, nor added: no stray markup,
	// no escape shown as it is (bench server \[ADDR\]).
	for _, bad := range []string{"**", "\\*", "```", "\\[", "\\]", "\\\\"} {
		if strings.Contains(text, bad) {
			t.Errorf("the rendered man page contains %q", bad)
		}
	}
}

// subsectionRE finds the heading of a man page's next subsection.
var subsectionRE = regexp.MustCompile("\n   \\S")

// TestManPageWithMan reads the page as a user would: man -l.
func TestManPageWithMan(t *testing.T) {
	needTool(t, "man")
	var page bytes.Buffer
	if code := run(context.Background(), []string{"udpchat", "man"}, nil, &page, &bytes.Buffer{}); code != 0 {
		t.Fatalf("udpchat man: exit %d", code)
	}
	path := filepath.Join(t.TempDir(), "udpchat.1")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "-l", path)
	cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=100", "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("man -l: %v\n%s", err, out)
	}
	text := stripOverstrike(string(out))
	if !strings.Contains(text, "UDPCHAT(1)") || !strings.Contains(text, "udpchat ping HOST:PORT") {
		t.Errorf("man -l shows:\n%s", text[:min(len(text), 2000)])
	}
}

// stripOverstrike removes the backspace bold and underline of nroff
// output (and the ANSI escapes of newer groff).
func stripOverstrike(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i := 0; i < len(r); i++ {
		if i+1 < len(r) && r[i+1] == '\b' {
			i++
			continue
		}
		if r[i] == 0x1b {
			for i < len(r) && r[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteRune(r[i])
	}
	return b.String()
}
