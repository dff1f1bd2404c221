package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

func manCommand() *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print udpchat's manual page (section 1, roff)",
		Description: "Prints the manual page, every command with its flags and examples, in roff: pipe it\n" +
			"to man, or install it.\n\n" +
			"Examples:\n" +
			"  udpchat man | man -l -\n" +
			"  udpchat man > /usr/local/share/man/man1/udpchat.1 && mandb -q",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef(c, "man takes no arguments, got %q", c.Args().Slice())
			}
			page, err := manPage(c.App)
			if err != nil {
				return err
			}
			_, err = io.WriteString(c.App.Writer, page)
			return err
		},
	}
}

// manPage renders the app's help as a section 1 manual page, with
// urfave/cli's ToManWithSection. The commands' descriptions, written for
// a terminal, become Markdown first: prose paragraphs, and the indented
// examples as code.
func manPage(app *cli.App) (string, error) {
	doc := &cli.App{
		Name:        app.Name,
		Usage:       app.Usage,
		UsageText:   "udpchat COMMAND [FLAGS] [ARGUMENTS...]",
		Description: descriptionMarkdown(app.Description),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help (also: udpchat help COMMAND, udpchat COMMAND --help)"},
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version, the commit it was built from and the Go toolchain"},
		},
	}
	// Each command, and each subcommand (room serve, room join) after its
	// parent, in a section of its own.
	var add func(path string, cmds []*cli.Command)
	add = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			name := strings.TrimSpace(path + " " + c.Name)
			doc.Commands = append(doc.Commands, &cli.Command{Name: name, Aliases: c.Aliases, Usage: commandMarkdown(name, c)})
			add(name, c.Subcommands)
		}
	}
	add("", app.Commands)
	page, err := doc.ToManWithSection(1)
	if err != nil {
		return "", err
	}
	// Commands are subsections of COMMANDS.
	if head, tail, ok := strings.Cut(page, ".SH COMMANDS\n"); ok {
		page = head + ".SH COMMANDS" + strings.ReplaceAll("\n"+tail, "\n.SH ", "\n.SS ")
	}
	page = strings.Replace(page, ".TH udpchat 1\n",
		fmt.Sprintf(".TH UDPCHAT 1 \"\" \"udpchat %s\" \"User Commands\"\n", readBuildVersion().short()), 1)
	return page + manTail, nil
}

// manTail ends the page with what every manual page has.
const manTail = `.SH EXIT STATUS
.TP
.B 0
success (for send \fB--wait\fP, ping and reliable transfers: the replies or the transfer really arrived)
.TP
.B 1
runtime failure: no reply, a timeout, a transfer that failed, a name that does not resolve
.TP
.B 2
usage error: a bad flag or address, a flag that cannot act in this combination, an oversize message (nothing was sent)
.TP
.B 130
interrupted by Ctrl-C (SIGINT); 143 for SIGTERM
.SH ENVIRONMENT
.TP
.B UDPCHAT_KEY
a key (64 hex digits) or a key file's path, for every command that takes \fB--key-file\fP
.TP
.B UDPCHAT_KEY_FILE
a key file's path
.TP
.B UDPCHAT_COLOR
\fBalways\fP, \fBnever\fP or \fBauto\fP (colour only on a terminal, the default)
.TP
.B NO_COLOR
set: no colour
.TP
.B GOMEMLIMIT
the soft memory limit of listen (default 32 MiB)
.SH SEE ALSO
.BR nc (1),
.BR socat (1),
.BR ping (8),
.BR iperf3 (1),
.BR sockperf (1),
.BR tshark (1),
.BR strace (1),
.BR udp (7),
.BR socket (7),
.BR ip (7)
`

// commandMarkdown is one command's section: synopsis, summary,
// description and flags.
func commandMarkdown(name string, c *cli.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**udpchat %s**", name)
	if c.ArgsUsage != "" && strings.TrimSpace(c.ArgsUsage) != "" {
		fmt.Fprintf(&b, " %s", mdEscape(c.ArgsUsage))
	}
	b.WriteString(" [flags]\n\n")
	b.WriteString(mdEscape(c.Usage) + ".\n\n")
	if c.Description != "" {
		b.WriteString(descriptionMarkdown(c.Description))
		b.WriteString("\n\n")
	}
	for _, f := range c.Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		b.WriteString(flagMarkdown(f))
		b.WriteString("\n\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

var placeholderRE = regexp.MustCompile("`([^`]+)`")

// flagMarkdown is "**--count**, **-c** *N*: usage (default: 5)".
func flagMarkdown(f cli.Flag) string {
	d, _ := f.(cli.DocGenerationFlag)
	usage := ""
	if d != nil {
		usage = d.GetUsage()
	}
	placeholder := ""
	if m := placeholderRE.FindStringSubmatch(usage); m != nil {
		placeholder = m[1]
	}
	usage = placeholderRE.ReplaceAllString(usage, "$1")
	var names []string
	for _, n := range f.Names() {
		if len(n) == 1 {
			names = append(names, "**-"+n+"**")
		} else {
			names = append(names, "**--"+n+"**")
		}
	}
	s := strings.Join(names, ", ")
	if d != nil && d.TakesValue() {
		if placeholder == "" {
			placeholder = "VALUE"
		}
		s += " *" + mdEscape(placeholder) + "*"
	}
	s += ": " + mdEscape(usage)
	if d != nil && d.TakesValue() {
		def := d.GetDefaultText()
		if def == "" {
			def = d.GetValue()
		}
		if def != "" && def != "0" && def != "0s" && def != `""` {
			s += " (default: " + mdEscape(strings.Trim(def, `"`)) + ")"
		}
	}
	return s
}

// descriptionMarkdown turns help text written for a terminal into
// Markdown: lines indented by two spaces (the examples) become a code
// block, the rest stays prose.
func descriptionMarkdown(s string) string {
	var b strings.Builder
	inCode, inSpan := false, false
	for _, line := range strings.Split(s, "\n") {
		code := strings.HasPrefix(line, "  ")
		switch {
		case code && !inCode:
			b.WriteString("\n")
		case !code && inCode && line != "":
			b.WriteString("\n")
		}
		inCode = code || inCode && line == ""
		if code {
			b.WriteString("    " + line[2:] + "\n")
			continue
		}
		if line == "" {
			inSpan = false // a span ends with its paragraph
		}
		b.WriteString(mdProse(line, &inSpan) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// mdProse escapes a line of prose for Markdown, except inside `code`
// spans, where a backslash is shown as it is (so `bench server [ADDR]`
// must not become bench server \[ADDR\] on the page). A span may go on
// to the next line of its paragraph: *inSpan carries that.
func mdProse(line string, inSpan *bool) string {
	parts := strings.Split(line, "`")
	for i := range parts {
		if i > 0 {
			*inSpan = !*inSpan
		}
		if !*inSpan {
			parts[i] = mdEscape(parts[i])
		}
	}
	return strings.Join(parts, "`")
}

// mdEscape keeps Markdown from reading prose as markup.
var mdEscape = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `_`, `\_`, `<`, `\<`, `>`, `\>`, `[`, `\[`, `]`, `\]`, "#", `\#`).Replace
