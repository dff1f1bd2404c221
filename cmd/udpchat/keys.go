package main

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seal"
)

// keyFileFlag is --key-file, shared by every command that talks to a peer.
func keyFileFlag() cli.Flag {
	return &cli.StringFlag{Name: "key-file", EnvVars: []string{"UDPCHAT_KEY_FILE"},
		Usage: "seal every datagram (AES-256-GCM, anti-replay) with the key in `FILE` (udpchat keygen FILE); also UDPCHAT_KEY"}
}

// keyEnv is the environment variable that holds a key, or a key file's
// path, for every command.
const keyEnv = "UDPCHAT_KEY"

// loadKey returns the key --key-file (or UDPCHAT_KEY) names, or nil when
// neither is set. UDPCHAT_KEY holds either the key itself (hex, as in a
// key file) or a key file's path. A key file others can read draws a
// warning on stderr.
func loadKey(c *cli.Context) (*seal.Key, error) {
	path := c.String("key-file")
	if path == "" && c.IsSet("key-file") {
		return nil, usagef(c, "--key-file needs a FILE (udpchat keygen FILE writes one)")
	}
	fromEnv := false
	if path == "" {
		v := strings.TrimSpace(os.Getenv(keyEnv))
		if v == "" {
			return nil, nil
		}
		if _, err := os.Stat(v); err != nil {
			// Not a file: the key itself, or a mistyped one. Its value is
			// never shown: it may be a key, or most of one.
			if !isHexDigits(v) {
				return nil, usagef(c, "%s is neither a key (%d hex digits) nor the path of a key file that exists (udpchat keygen FILE writes one)",
					keyEnv, 2*seal.SecretLen)
			}
			if len(v)%2 != 0 || len(v) < 2*seal.MinSecretLen {
				return nil, usagef(c, "%s holds %d hex digits, which is not a key: a key is %d hex digits (udpchat keygen FILE writes one; %s may also name that file)",
					keyEnv, len(v), 2*seal.SecretLen, keyEnv)
			}
			secret, err := seal.ParseSecret([]byte(v))
			if err != nil {
				return nil, usagef(c, "%s: %v", keyEnv, err)
			}
			return seal.NewKey(secret)
		}
		path, fromEnv = v, true
	}
	k, warn, err := seal.LoadKeyFile(path)
	if err != nil {
		if fromEnv {
			return nil, usagef(c, "%s: %v", keyEnv, err)
		}
		return nil, usagef(c, "%v", err)
	}
	if warn != "" {
		fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", warn)
	}
	return k, nil
}

// isHexDigits reports whether s is made of hex digits only.
func isHexDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// keyring seals what a command sends and opens what it receives.
type keyring struct {
	sealer *seal.Sealer
	opener *seal.Opener
	buf    []byte
}

// newKeyring starts a session under k; nil k gives a nil keyring.
func newKeyring(k *seal.Key) (*keyring, error) {
	if k == nil {
		return nil, nil
	}
	s, err := k.NewSealer()
	if err != nil {
		return nil, err
	}
	o := k.NewOpener(seal.Config{})
	o.Ignore(s.Session())
	return &keyring{sealer: s, opener: o}, nil
}

// seal returns m sealed, in a buffer reused by the next call.
func (k *keyring) seal(m []byte) ([]byte, error) {
	var err error
	k.buf, err = k.sealer.Seal(k.buf[:0], m, time.Now())
	return k.buf, err
}

// open replaces d.Data with its plaintext (in place) or returns why it
// was rejected (counted).
func (k *keyring) open(d *dgram.Datagram) seal.Cause {
	var dst []byte // in place: the plaintext overwrites the ciphertext
	if len(d.Data) >= seal.HeaderLen {
		dst = d.Data[seal.HeaderLen:seal.HeaderLen]
	}
	out, _, c := k.opener.Open(dst, d.From, d.Data)
	if c == seal.None {
		d.Data = out
	}
	return c
}

// peer returns the counts of one sender that has authenticated.
func (k *keyring) peer(from netip.AddrPort) (seal.PeerStats, bool) { return k.opener.Peer(from) }

// rejectedText describes rejection counts in words: "3 rejected (2 bad
// tag, 1 replay)".
func rejectedText(r seal.Rejections) string {
	var parts []string
	for c := seal.Unsealed; c < seal.NumCauses; c++ {
		if r[c] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", r[c], c))
		}
	}
	if len(parts) == 0 {
		return "0 rejected"
	}
	return fmt.Sprintf("%d rejected (%s)", r.Total(), strings.Join(parts, ", "))
}

// causeText explains a rejection cause on a line of its own.
func causeText(c seal.Cause) string {
	switch c {
	case seal.Unsealed:
		return "not sealed (no key, or not a udpchat datagram)"
	case seal.BadTag:
		return "authentication failed (another key, or changed on the way)"
	case seal.Replay:
		return "a replay of a datagram already accepted"
	case seal.Stale:
		return staleText
	case seal.UnknownSession:
		return "from a session that began before this receiver started (a replay it cannot check)"
	case seal.Throttled:
		return "a new session from an address that started too many at once (not checked)"
	}
	return c.String()
}

var staleText = fmt.Sprintf("older than the %d-datagram anti-replay window", seal.Window)

// sealedLimit checks that a datagram of n bytes still fits one UDP
// datagram to dst once sealed.
func sealedLimit(n int, dst netip.AddrPort) error {
	if err := dgram.CheckSize(n+seal.Overhead, dst); err != nil {
		return fmt.Errorf("sealing adds %d bytes: %w", seal.Overhead, err)
	}
	return nil
}

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "write a new random key file for --key-file (mode 0600)",
		ArgsUsage: "FILE",
		Description: "Writes 32 random bytes, as 64 hex digits, to FILE, readable only by you (0600). It never\n" +
			"overwrites a file. Give the same file to both ends: every datagram is then sealed with\n" +
			"AES-256-GCM under a per-session key derived from it, and a receiver rejects, and counts,\n" +
			"anything forged, changed, replayed or sealed under another key. FILE - (a dash) writes\n" +
			"the key to stdout instead, for a pipe (mind where it goes: the key is the secret).\n\n" +
			"Examples:\n" +
			"  udpchat keygen chat.key\n" +
			"  udpchat listen --key-file chat.key --echo      # and: udpchat ping 127.0.0.1:9000 --key-file chat.key\n" +
			"  UDPCHAT_KEY=chat.key udpchat send 127.0.0.1:9000 hello",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef(c, "keygen takes one FILE to write, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			if path == "" {
				return usagef(c, "keygen needs a FILE name to write")
			}
			if path == "-" {
				return keygenStdout(c)
			}
			if err := seal.WriteKeyFile(path); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "wrote a new key to %s (mode 0600); use it at both ends: --key-file %s\n", path, path)
			return nil
		},
	}
}
