package main

import (
	"time"

	"github.com/urfave/cli/v2"
)

// Line endings on the wire, for peers that read lines: nc and socat print
// what arrives as it is, so "hello" and "world" sent as two datagrams show
// as "helloworld" unless each ends its line. send and chat share these
// flags; udpchat's own receivers show a trailing newline as "\n", and chat
// strips it.

func newlineFlag() cli.Flag {
	return &cli.BoolFlag{Name: "newline", Usage: "end each message with a newline (\\n), for peers that read lines (nc, socat)"}
}

func crlfFlag() cli.Flag {
	return &cli.BoolFlag{Name: "crlf", Aliases: []string{"C"}, Usage: "end each message with CR LF (\\r\\n), as nc -C does, for peers that want it"}
}

// lineEnding returns what --newline or --crlf appends to each message
// (nil: nothing).
func lineEnding(c *cli.Context) ([]byte, error) {
	nl, crlf := c.Bool("newline"), c.Bool("crlf")
	switch {
	case nl && crlf:
		return nil, usagef(c, "--newline and --crlf do not go together: pick one line ending")
	case nl:
		return []byte("\n"), nil
	case crlf:
		return []byte("\r\n"), nil
	}
	return nil, nil
}

// withLineEnd returns m followed by end, in a new slice when end is not
// empty (m may belong to the caller).
func withLineEnd(m, end []byte) []byte {
	if len(end) == 0 {
		return m
	}
	return append(m[:len(m):len(m)], end...)
}

// defaultLinger is how long chat waits for replies after the end of piped
// input: a few round trips on any network people chat over.
const defaultLinger = time.Second

func lingerFlag() cli.Flag {
	return &cli.GenericFlag{Name: "linger", Aliases: []string{"q"}, Value: &durationValue{d: defaultLinger},
		Usage: "with piped input, stay after its end until nothing has arrived for `D`, to print the replies (nc's -q; 0: leave at once)"}
}

// lingerFor is --linger for this run: nothing when stdin is a terminal,
// where Ctrl-D ends the chat when its user wants.
func lingerFor(c *cli.Context) (time.Duration, error) {
	if isTerminal(c.App.Reader) {
		if c.IsSet("linger") {
			return 0, usagef(c, "--linger is for piped input: on a terminal, Ctrl-D or \"exit\" ends the chat when you want")
		}
		return 0, nil
	}
	return durationFlag(c, "linger"), nil
}
