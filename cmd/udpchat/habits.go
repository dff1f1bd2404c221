package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram/seal"
)

// The habits of nc users: their way of writing an address, and their
// flags. udpchat takes HOST:PORT as one argument; nc takes HOST PORT as
// two. Flags that nc has and udpchat does not get a sentence that says
// what to type instead, rather than "unknown flag".

// addrArgIndex is, per command, the position of its HOST:PORT argument
// (-1: after a role word, as in `bench client HOST:PORT`).
var addrArgIndex = map[string]int{
	"listen": 0, "send": 0, "chat": 0, "ping": 0, "mtu": 0, "bench": -1,
}

// checkHostPortForm refuses nc's `HOST PORT` where udpchat wants
// HOST:PORT, and shows the command to type. It runs before the command's
// action (as its Before), so before anything is resolved or opened.
func checkHostPortForm(c *cli.Context) error {
	i, ok := addrArgIndex[c.Command.Name]
	if !ok {
		return nil
	}
	args := c.Args().Slice()
	if i < 0 {
		i = 1 // after the role word
		if len(args) == 0 || (args[0] != "client" && args[0] != "server") {
			return nil
		}
	}
	if len(args) < i+2 {
		return nil
	}
	host, port := args[i], args[i+1]
	if host == "" || strings.Contains(host, ":") && !isBareIPv6(host) || isDigits(host) || !isDigits(port) {
		return nil
	}
	if n, err := strconv.Atoi(port); err != nil || n > 65535 {
		return nil
	}
	if isBareIPv6(host) {
		host = "[" + host + "]"
	}
	typed := append(append(append([]string{}, args[:i]...), host+":"+port), args[i+2:]...)
	q := make([]string, len(typed))
	for j, a := range typed {
		q[j] = shellWord(a)
	}
	return usagef(c, "%s %s is nc's form (HOST PORT); udpchat takes the address as one word, HOST:PORT: udpchat %s %s",
		args[i], args[i+1], c.Command.Name, strings.Join(q, " "))
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isBareIPv6 reports an IPv6 literal written without brackets ("::1").
func isBareIPv6(s string) bool {
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.Is6()
}

// shellWord quotes s for a shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=@%+[]") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ncFlags explains nc's flags that udpchat does not take, by letter.
var ncFlags = map[string]string{
	"u": "udpchat always speaks UDP: leave out -u",
	"l": "to listen, run udpchat listen ADDR (or chat --bind ADDR to talk both ways)",
	"k": "udpchat listen keeps listening after every datagram, from every sender, without nc's -k",
	"v": "udpchat already says what it does on stderr; --json gives machine-readable lines",
	"n": "udpchat resolves a name only when you give one: give an IP address",
	"p": "give the local port with send --from :PORT, chat --bind PORT, or listen PORT",
	"4": "the address chooses the family: 127.0.0.1 for IPv4, [::1] for IPv6",
	"6": "the address chooses the family: 127.0.0.1 for IPv4, [::1] for IPv6",
	"z": "udpchat does not scan ports; udpchat ping HOST:PORT asks one echo server",
	"q": "only chat lingers after end of input: chat --linger D (-q D)",
	"d": "udpchat send with MSG arguments or --size reads no stdin",
	"N": "UDP has no connection to shut down: nothing to do",
	"b": "broadcast is not supported",
	"W": "listen --count N ends after N datagrams (nc's -W)",
	"s": "give the local address with send --from ADDR or chat --bind ADDR (-s)",
}

// ncFlagHint returns the sentence for an nc flag that the command does not
// take, or "".
func ncFlagHint(name string) string {
	return ncFlags[strings.TrimLeft(name, "-")]
}

// keygenStdout is `udpchat keygen -`: the key on stdout, as key files hold
// it, rather than a file named "-".
func keygenStdout(c *cli.Context) error {
	if _, err := c.App.Writer.Write(seal.FormatSecret(seal.GenerateSecret())); err != nil {
		return err
	}
	fmt.Fprintln(c.App.ErrWriter, "wrote a new key to stdout: keep it in a file only you can read (mode 0600) and give it to both ends with --key-file FILE, or in UDPCHAT_KEY")
	return nil
}
