package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
)

// commands returns the app's commands, fresh for every run: urfave/cli
// mutates commands as it runs them.
func commands() []*cli.Command {
	return []*cli.Command{
		listenCommand(),
		sendCommand(),
		chatCommand(),
		pingCommand(),
		proxyCommand(),
		demoCommand(),
		benchCommand(),
		keygenCommand(),
		roomCommand(),
		mtuCommand(),
		completionCommand(),
		manCommand(),
	}
}

func init() {
	// Leave out the defaults that say nothing: "(default: false)" on every
	// boolean flag, "(default: 0)" where 0 means "not set".
	orig := cli.FlagStringer
	cli.FlagStringer = func(f cli.Flag) string {
		s := orig(f)
		for _, noise := range []string{" (default: false)", " (default: 0)", " (default: 0s)"} {
			s = strings.TrimSuffix(s, noise)
		}
		return s
	}
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "udpchat",
		Usage:   "a netcat for UDP datagrams that explains itself",
		Version: readBuildVersion().short(),
		Description: "udpchat talks UDP the way recvfrom(2) and sendto(2) do: every message is one datagram,\n" +
			"delivered whole or not at all, maybe late, maybe twice. Start with:\n\n" +
			"  udpchat listen 127.0.0.1:9000          # in one terminal\n" +
			"  udpchat send 127.0.0.1:9000 hello      # in another\n\n" +
			"Exit status: 0 success, 1 runtime failure (no reply, a timeout, a name that does not\n" +
			"resolve), 2 usage error (nothing was sent), 130 interrupted by Ctrl-C (143: SIGTERM).",
		Commands:             commands(),
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      false,
		EnableBashCompletion: false,
		// Exit codes come from run, in one place: never let urfave/cli exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageErr("", flagErrText("", err))
		},
	}
	for _, cmd := range app.Commands {
		cmd.HideHelpCommand = true
		if cmd.Before == nil {
			cmd.Before = checkHostPortForm
		}
		name := cmd.Name
		cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
			return usageErr(name, flagErrText(name, err))
		}
	}
	return app
}

// run runs udpchat with args (args[0] is the program name) and returns the
// exit status: 0 success, 1 runtime failure, 2 usage error, 128 + the
// signal's number when interrupted (130 for Ctrl-C, 143 for SIGTERM).
// Every error is printed here, as one line on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	if n := len(args); n >= 2 && args[n-1] == completeFlag {
		// A completion request from the scripts of `udpchat completion`:
		// the words typed so far, the one under the cursor last.
		if err := complete(app, args[1:n-2], args[n-2], stdout); err != nil {
			return 1
		}
		return 0
	}
	// The words as typed, flags where the user put them, for the commands
	// that suggest what to type instead (checkHostPortForm).
	app.Metadata = map[string]any{typedArgsKey: append([]string(nil), args[1:]...)}
	args, err := normalizeArgs(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if ie := interruption(ctx); ie != nil {
		// Ctrl-C or SIGTERM: the command has stopped and said what it
		// did; the status says it was interrupted. An error that only
		// says so (a canceled context, a socket closed under a read)
		// becomes one plain line.
		if msg := oneLine(errText(err)); msg != "" {
			if isInterruptNoise(err) {
				msg = ie.Error()
			}
			fmt.Fprintf(stderr, "udpchat: %s\n", msg)
		}
		return ie.exitCode()
	}
	if err == nil {
		return 0
	}
	code := exitCode(err)
	if msg := oneLine(err.Error()); msg != "" {
		fmt.Fprintf(stderr, "udpchat: %s\n", msg)
	}
	return code
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// isInterruptNoise reports errors that an interrupted command returns only
// because it was interrupted, whose text means nothing to a user
// ("context canceled", "use of closed network connection").
func isInterruptNoise(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "context canceled")
}

// exitCode maps an error to the exit status of DESIGN.md.
func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	if errors.Is(err, dgram.ErrBadAddress) || errors.Is(err, dgram.ErrTooLong) && isPrecheck(err) {
		return 2
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// isPrecheck reports whether a too-long error came from dgram.CheckSize
// (refused before sending: a usage error) rather than from the kernel.
func isPrecheck(err error) bool {
	var de *dgram.Error
	return errors.As(err, &de) && de.Limit > 0
}

// oneLine makes an error's text one line of plain characters: line
// breaks become "; ", and what a terminal would act on instead of showing
// (C0 controls such as ESC, DEL, the C1 controls U+0080..U+009F, bytes
// that are not UTF-8) is escaped, because an error may carry words of a
// peer (a server's refusal, a receiver's verdict).
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return plainLine(strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " "))
}

// plainLine writes C0 controls, DEL and invalid bytes as \xHH and
// C1 controls as \u00HH; everything else is left as it is.
func plainLine(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isTerminalControl(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	b := []byte(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = fmt.Appendf(b, `\x%02x`, s[i])
		case r < 0x80 && isTerminalControl(r, n):
			b = fmt.Appendf(b, `\x%02x`, r)
		case isTerminalControl(r, n):
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

func isTerminalControl(r rune, n int) bool {
	return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == utf8.RuneError && n == 1
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string {
	help := "udpchat --help"
	if e.cmd != "" {
		help = "udpchat " + e.cmd + " --help"
	}
	return e.msg + " (see '" + help + "')"
}

func usageErr(cmd, msg string) error { return &usageError{cmd: cmd, msg: msg} }

func usagef(c *cli.Context, format string, args ...any) error {
	return usageErr(commandName(c), fmt.Sprintf(format, args...))
}

// commandName is the command c runs, with its parents: "room join", not
// "join", which is no command of its own.
func commandName(c *cli.Context) string {
	var names []string
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != "" && (x.App == nil || x.Command.Name != x.App.Name) {
			names = append([]string{x.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

// flagErrText rewrites the flag package's messages for people, for the
// command that failed ("" for udpchat itself): flag names as they are
// typed (--count, -c), a sentence for the flags of the tools its users
// know (flagHint), and, where a message may start with '-' (send), how
// to send one.
func flagErrText(command string, err error) string {
	s := err.Error()
	if strings.HasPrefix(s, "flag provided but not defined: ") {
		name := strings.TrimLeft(strings.TrimPrefix(s, "flag provided but not defined: "), "-")
		if len(name) > 1 {
			name = "--" + name
		} else {
			name = "-" + name
		}
		if hint := flagHint(command, name); hint != "" {
			return fmt.Sprintf("unknown flag %s: %s", name, hint)
		}
		if command == "send" {
			return fmt.Sprintf("unknown flag %s (to send a message that starts with '-', put -- before it)", name)
		}
		return "unknown flag " + name
	}
	for _, p := range []string{"for flag -", "flag needs an argument: -"} {
		if i := strings.Index(s, p); i >= 0 {
			rest := s[i+len(p):]
			if !strings.HasPrefix(rest, "-") && len(rest) > 1 && rest[1] != ':' && rest[1] != ' ' {
				s = s[:i+len(p)] + "-" + rest
			}
		}
	}
	return s
}

// normalizeArgs lets flags come before or after positional arguments, as
// users type them (`udpchat send 127.0.0.1:9000 hi --wait`). urfave/cli v2
// stops parsing flags at the first positional argument (its issues 976 and
// 1177), so each command's arguments are reordered here: flags first, then
// "--", then the positional arguments. Boolean flags never take the next word
// as their value; "--" ends the flags, so `send HOST -- --literal` sends
// "--literal". Unknown flags stay flags, so that urfave/cli rejects them.
func normalizeArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	out := []string{args[0]}
	i := 1
	for ; i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--"; i++ {
		out = append(out, args[i]) // global flags: --help, --version
	}
	if i >= len(args) || args[i] == "--" {
		return append(out, args[i:]...), nil
	}
	name := args[i]
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.HasName(name) {
			cmd = c
		}
	}
	if cmd == nil {
		if name == "help" || name == "h" {
			for _, topic := range args[i+1:] {
				if !strings.HasPrefix(topic, "-") && findCommand(app.Commands, topic) == nil {
					return nil, usageErr("", fmt.Sprintf("no help for %q: it is not a command; the commands are: %s", topic, commandNames(app)))
				}
			}
			return args, nil
		}
		return nil, usageErr("", fmt.Sprintf("unknown command %q; the commands are: %s", name, commandNames(app)))
	}
	out = append(out, name)
	rest := args[i+1:]
	for len(rest) > 0 && len(cmd.Subcommands) > 0 { // `room join ...`: the subcommand's flags
		var sub *cli.Command
		for _, s := range cmd.Subcommands {
			if s.HasName(rest[0]) {
				sub = s
			}
		}
		if sub == nil {
			break
		}
		out, cmd, rest = append(out, rest[0]), sub, rest[1:]
	}
	flags, pos := splitFlags(cmd.Flags, rest)
	out = append(out, flags...)
	if len(pos) > 0 {
		out = append(out, "--")
		out = append(out, pos...)
	}
	return out, nil
}

func commandNames(app *cli.App) string {
	var names []string
	for _, c := range app.Commands {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, ", ")
}

// splitFlags separates a command's arguments into flags (with their values)
// and positional arguments, preserving the order within each.
func splitFlags(defs []cli.Flag, args []string) (flags, pos []string) {
	isBool := map[string]bool{"help": true, "h": true}
	known := map[string]bool{"help": true, "h": true}
	for _, f := range defs {
		_, b := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			known[n] = true
			if b {
				isBool[n] = true
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(pos, args[i+1:]...)
		case a == "-" || !strings.HasPrefix(a, "-"):
			pos = append(pos, a)
		default:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if known[name] && !isBool[name] && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return flags, pos
}
