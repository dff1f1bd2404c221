//go:build !linux

// Package nstest builds networks of Linux network namespaces for tests;
// elsewhere every test that needs one is skipped.
package nstest

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"testing"
)

// NS is a network namespace; none can be made outside Linux.
type NS struct{ Name string }

// LinkOptions describes a veth pair (Linux only).
type LinkOptions struct {
	A, B []netip.Prefix
	MTU  int
}

// Available reports that network namespaces need Linux.
func Available() error { return errors.New("network namespaces need Linux") }

// New skips the test: network namespaces need Linux.
func New(t testing.TB) *NS {
	t.Helper()
	t.Skip("skipped: network namespaces need Linux")
	return nil
}

// Link is never reached outside Linux (New skips first).
func Link(t testing.TB, a, b *NS, opt LinkOptions) (string, string) {
	t.Helper()
	t.Skip("skipped: network namespaces need Linux")
	return "", ""
}

// Do is never reached outside Linux.
func (ns *NS) Do(f func() error) error { return errors.New("network namespaces need Linux") }

// NeedTool skips the test when the program name is not installed (fails
// under CI).
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI should have installed it (.ci/run)", name)
	}
	t.Skipf("skipped: %s is not installed", name)
	return ""
}

// Spoofer forges source addresses (Linux only).
type Spoofer struct{}

// NewSpoofer skips the test: raw sockets with IP_HDRINCL need Linux here.
func NewSpoofer(t testing.TB) *Spoofer {
	t.Helper()
	t.Skip("skipped: forging source addresses needs Linux")
	return nil
}

// Send is never reached outside Linux.
func (s *Spoofer) Send(src, dst netip.AddrPort, payload []byte) error {
	return errors.New("forging source addresses needs Linux")
}
