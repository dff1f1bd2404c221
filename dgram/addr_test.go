package dgram

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestSplitAddr(t *testing.T) {
	tests := []struct {
		in      string
		host    string
		port    uint16
		wantErr string
	}{
		{"127.0.0.1:9000", "127.0.0.1", 9000, ""},
		{"[::1]:9000", "::1", 9000, ""},
		{"localhost:1", "localhost", 1, ""},
		{":9000", "", 9000, ""},
		{"127.0.0.1:0", "127.0.0.1", 0, ""},
		{"127.0.0.1:65535", "127.0.0.1", 65535, ""},
		{"[fe80::1%lo]:53", "fe80::1%lo", 53, ""},
		{"", "", 0, "empty address"},
		{"127.0.0.1", "", 0, "missing port"},
		{"::1:9000", "", 0, "needs brackets"},
		{"127.0.0.1:65536", "", 0, "not a number from 0 to 65535"},
		{"127.0.0.1:-1", "", 0, "not a number from 0 to 65535"},
		{"127.0.0.1:", "", 0, "missing port"},
		{"127.0.0.1:nosuchservice", "", 0, "unknown service"},
		{"[::1:9000", "", 0, "bad address"},
		{"a b:9", "", 0, "contains a space"},
	}
	for _, tt := range tests {
		host, port, err := SplitAddr(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SplitAddr(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			if !errors.Is(err, ErrBadAddress) {
				t.Errorf("SplitAddr(%q) error %v is not ErrBadAddress", tt.in, err)
			}
			continue
		}
		if err != nil || host != tt.host || port != tt.port {
			t.Errorf("SplitAddr(%q) = %q, %d, %v; want %q, %d", tt.in, host, port, err, tt.host, tt.port)
		}
	}
}

func TestParseListenAddr(t *testing.T) {
	tests := []struct {
		in       string
		host     string
		port     uint16
		wildcard bool
		ok       bool
	}{
		{"", "127.0.0.1", 9000, false, true},
		{"9001", "127.0.0.1", 9001, false, true},
		{"0", "127.0.0.1", 0, false, true},
		{":9002", "", 9002, true, true},
		{"[::1]:9003", "::1", 9003, false, true},
		{"0.0.0.0:9004", "0.0.0.0", 9004, false, true},
		{"99999", "", 0, false, false},
		{"abc", "", 0, false, false},
	}
	for _, tt := range tests {
		host, port, wc, err := ParseListenAddr(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseListenAddr(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (host != tt.host || port != tt.port || wc != tt.wildcard) {
			t.Errorf("ParseListenAddr(%q) = %q, %d, %v; want %q, %d, %v", tt.in, host, port, wc, tt.host, tt.port, tt.wildcard)
		}
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"127.0.0.1:9000", "127.0.0.1:9000", ""},
		{"[::1]:9000", "[::1]:9000", ""},
		{"[::ffff:127.0.0.1]:9000", "127.0.0.1:9000", ""},
		{"localhost:9000", "127.0.0.1:9000", ""}, // IPv4 preferred
		{":9000", "", "missing host"},
		{"127.0.0.1:0", "", "port 0 cannot be sent to"},
		{"[::1::2]:1", "", "not a valid IPv6 address"},
		{"9000", "127.0.0.1:9000", ""}, // a port alone: the local host
		{"0", "", "port 0 cannot be sent to"},
		{"99999", "", "not a number from 0 to 65535"},
		{"[fe80::1]:9000", "", "name the interface with a zone, as in [fe80::1%eth0]:PORT"},
		{"[fe80::1%lo]:9000", "[fe80::1%lo]:9000", ""},
		{"[fe80::1%1]:9000", "[fe80::1%1]:9000", ""},
		{"[fe80::1%nosuchif0]:9000", "", `zone "nosuchif0" names no interface`},
		{"[ff02::1]:9000", "", "link-local"},
	}
	for _, tt := range tests {
		got, err := Resolve(ctx, tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadAddress) {
				t.Errorf("Resolve(%q) = %v, %v; want ErrBadAddress containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestResolveNoSuchHost: a name that does not resolve is a failure at run
// time (ErrNoSuchHost), not a malformed address, and the error names it.
func TestResolveNoSuchHost(t *testing.T) {
	for _, in := range []string{"no-such-host.invalid:9000"} {
		_, err := Resolve(context.Background(), in)
		if !errors.Is(err, ErrNoSuchHost) || errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), `"no-such-host.invalid"`) ||
			!strings.HasPrefix(err.Error(), "cannot resolve no-such-host.invalid:9000: ") {
			t.Errorf("Resolve(%q) error = %v, want ErrNoSuchHost naming the host", in, err)
		}
		_, err = ResolveListen(context.Background(), in)
		if !errors.Is(err, ErrNoSuchHost) {
			t.Errorf("ResolveListen(%q) error = %v, want ErrNoSuchHost", in, err)
		}
	}
}

func TestResolveListenWildcardIsDualStack(t *testing.T) {
	ap, err := ResolveListen(context.Background(), ":0")
	if err != nil {
		t.Fatal(err)
	}
	if ap.Addr() != netip.IPv6Unspecified() || network(ap.Addr()) != "udp" {
		t.Errorf("ResolveListen(:0) = %v (network %s), want [::] on \"udp\"", ap, network(ap.Addr()))
	}
	if n := network(netip.MustParseAddr("0.0.0.0")); n != "udp4" {
		t.Errorf("network(0.0.0.0) = %s, want udp4", n)
	}
	if n := network(netip.MustParseAddr("::1")); n != "udp6" {
		t.Errorf("network(::1) = %s, want udp6", n)
	}
}

func TestMaxPayloadFor(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want int
	}{
		{"127.0.0.1", 65507}, {"::ffff:10.0.0.1", 65507}, {"::1", 65527}, {"fe80::1", 65527},
	} {
		if got := MaxPayloadFor(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("MaxPayloadFor(%s) = %d, want %d", tt.addr, got, tt.want)
		}
	}
	v4 := netip.MustParseAddrPort("127.0.0.1:9")
	if err := CheckSize(MaxPayloadIPv4, v4); err != nil {
		t.Errorf("CheckSize(%d, %v) = %v, want nil", MaxPayloadIPv4, v4, err)
	}
	err := CheckSize(MaxPayloadIPv4+1, v4)
	if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "the limit over IPv4 is 65507 bytes") {
		t.Errorf("CheckSize(65508, %v) = %v, want ErrTooLong naming 65507", v4, err)
	}
	v6 := netip.MustParseAddrPort("[::1]:9")
	if err := CheckSize(MaxPayloadIPv6, v6); err != nil {
		t.Errorf("CheckSize(%d, %v) = %v, want nil", MaxPayloadIPv6, v6, err)
	}
	err = CheckSize(MaxPayloadIPv6+1, v6)
	if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "the limit over IPv6 is 65527 bytes") {
		t.Errorf("CheckSize(65528, %v) = %v, want ErrTooLong naming 65527", v6, err)
	}
}
