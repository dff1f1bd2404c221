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
	"room serve": 0, "room join": 0,
}

// checkHostPortForm refuses nc's `HOST PORT` where udpchat wants
// HOST:PORT, and shows the command to type. It runs before the command's
// action (as its Before), so before anything is resolved or opened.
func checkHostPortForm(c *cli.Context) error {
	name := commandName(c)
	i, ok := addrArgIndex[name]
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
	// The command to type: the words as they were typed, flags included,
	// with HOST PORT made one word (or, without them, the command and its
	// arguments).
	words := append(append(append(strings.Fields(name), args[:i]...), host+":"+port), args[i+2:]...)
	if typed, ok := c.App.Metadata[typedArgsKey].([]string); ok {
		for j := 0; j+1 < len(typed); j++ {
			if typed[j] == args[i] && typed[j+1] == args[i+1] {
				words = append(append(append([]string{}, typed[:j]...), host+":"+port), typed[j+2:]...)
				break
			}
		}
	}
	q := make([]string, len(words))
	for j, a := range words {
		q[j] = shellWord(a)
	}
	return usagef(c, "%s %s is nc's form (HOST PORT); udpchat takes the address as one word, HOST:PORT: udpchat %s",
		args[i], args[i+1], strings.Join(q, " "))
}

// typedArgsKey is the App.Metadata key of the arguments as typed, before
// normalizeArgs put the flags first.
const typedArgsKey = "typed-args"

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

// pingFlags explains ping(8)'s flags that udpchat ping does not take: its
// users type them, and nc's sentences would answer another question (ping's
// -q is quiet, not nc's linger; -p a pattern, not a port; -w a deadline).
var pingFlags = map[string]string{
	"q": "udpchat ping has no quiet mode: its statistics are the last lines (--json gives lines a program reads)",
	"w": "ping(8)'s deadline: udpchat ping stops after --count probes (-c N) sent every --interval (-i D); -W D is each probe's timeout",
	"n": "udpchat ping prints addresses as numbers already: leave out -n",
	"v": "udpchat ping already shows every reply, late reply and error; --json gives machine-readable lines",
	"p": "udpchat ping pads its probes itself and checks every byte of the reply; give the size with -s BYTES",
	"I": "the route to HOST:PORT chooses the interface: give an address of the interface's network",
	"f": "udpchat ping does not flood: pace it with --interval (-i 0.01), and use udpchat bench to load a path",
	"t": "udpchat ping sends with the system's TTL; udpchat listen --verbose shows the TTL a datagram arrived with",
	"l": "udpchat ping keeps one probe in flight every --interval; no preload",
}

// iperf3Flags explains iperf3's flags that udpchat bench does not take.
var iperf3Flags = map[string]string{
	"s": "iperf3's -s is udpchat bench server [ADDR] (default 127.0.0.1:9201; :9201 for every interface)",
	"c": "iperf3's -c HOST is udpchat bench client HOST:PORT",
	"p": "the port goes in the address: udpchat bench server :5201, udpchat bench client HOST:5201",
	"V": "udpchat bench already says what it measured, and how; -J (--json) gives JSON lines",
	"v": "udpchat --version prints the version",
	"R": "udpchat bench has no reverse mode: run bench client on the host that should send",
	"P": "udpchat bench runs one stream, and its server one client at a time: run one test per server",
	"n": "udpchat bench measures for a duration: -t D",
	"k": "udpchat bench measures for a duration: -t D",
	"w": "udpchat bench sizes its socket buffers itself (the summary shows SO_RCVBUF)",
	"D": "run the server in the background: udpchat bench server [ADDR] &",
	"O": "udpchat bench --mode latency leaves out a warm-up by itself; throughput counts from the first datagram",
	"Z": "udpchat bench sends with sendmmsg and UDP GSO already (--offload, --batch)",
}

// universalFlags are the nc letters whose sentence holds for every command.
var universalFlags = map[string]bool{"u": true, "4": true, "6": true}

// flagHint returns the sentence for a one-letter flag that command does not
// take, from the tool its users know: ping(8) for ping, iperf3 for bench,
// nc for the others; "" when there is none.
func flagHint(command, name string) string {
	letter := strings.TrimLeft(name, "-")
	if len(letter) != 1 {
		return ""
	}
	var own map[string]string
	switch command {
	case "ping":
		own = pingFlags
	case "bench":
		own = iperf3Flags
	default:
		return ncFlags[letter]
	}
	if h, ok := own[letter]; ok {
		return h
	}
	if universalFlags[letter] {
		return ncFlags[letter]
	}
	return ""
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
