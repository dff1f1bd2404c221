package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/udpchat/udpchat/dgram/nstest"
)

// TestExplainDFAgreesWithStrace: send --df --explain, refused with
// EMSGSIZE by a 1500-byte loopback (in a namespace of the test's own),
// tells the calls strace saw: how package pmtu picks its options
// (SO_DOMAIN), don't-fragment, the write, and the path MTU it reads
// to explain the error, with its value and the Python of its family.
func TestExplainDFAgreesWithStrace(t *testing.T) {
	ns := nstest.New(t)
	ns.IP("link", "set", "lo", "mtu", "1500")
	strace := nstest.NeedTool(t, "strace")
	bin, err := exec.LookPath("udpchat")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dst, payload, py string }{
		{"127.0.0.1:9", "1472 of payload", "s.getsockopt(socket.IPPROTO_IP, 14)"},
		{"[::1]:9", "1452 of payload", "s.getsockopt(socket.IPPROTO_IPV6, 24)"},
	} {
		t.Run(tc.dst, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "send.strace")
			// Port 9 (discard) of the namespace's own loopback: nothing
			// is sent, the kernel refuses the datagram first.
			cmd := ns.Command(strace, "-f", "-qq", "-e", "trace=network,write", "-e", "signal=none", "-o", out,
				bin, "send", tc.dst, "--df", "--size", "1600", "--explain")
			cmd.Env = childEnv(cmd.Environ())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("send --df --size 1600: %v, want exit status 1: %s", err, stderr.String())
			}
			errs := stderr.String()
			for _, want := range []string{"carries at most 1500 bytes: " + tc.payload, "= -1 EMSGSIZE", "MTU) = 0: 1500", tc.py} {
				if !strings.Contains(errs, want) {
					t.Errorf("send --df --explain lacks %q:\n%s", want, errs)
				}
			}
			checkAgainstStrace(t, "send --df", straceCalls(t, out), errs)
		})
	}
}
