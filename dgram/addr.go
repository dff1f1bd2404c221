package dgram

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults for listening addresses.
const (
	// DefaultHost is the host of a listening address given as a port alone.
	DefaultHost = "127.0.0.1"
	// DefaultPort is the port of the default listening address.
	DefaultPort = 9000
	// DefaultListenAddr is where `udpchat listen` binds with no address.
	DefaultListenAddr = "127.0.0.1:9000"
)

// ResolveTimeout bounds a name lookup.
const ResolveTimeout = 5 * time.Second

// addrHelp is appended to address errors so a user sees the expected form.
const addrHelp = "write HOST:PORT, for example 127.0.0.1:9000, [::1]:9000 or localhost:9000"

func badAddr(s, format string, args ...any) error {
	return &Error{Op: "resolve", Addr: s, Kind: ErrBadAddress, Err: fmt.Errorf(format, args...)}
}

// SplitAddr splits "host:port" into its host and numeric port. IPv6
// literals go in brackets ("[::1]:9000"); the port may be a number or a
// UDP service name from /etc/services ("echo"). The host may be empty
// (":9000"). Errors are *Error of kind ErrBadAddress and say what is wrong.
func SplitAddr(s string) (host string, port uint16, err error) {
	if s == "" {
		return "", 0, badAddr(s, "empty address; %s", addrHelp)
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		switch {
		case errors.As(err, &ae) && ae.Err == "missing port in address":
			return "", 0, badAddr(s, "missing port; %s", addrHelp)
		case errors.As(err, &ae) && ae.Err == "too many colons in address":
			return "", 0, badAddr(s, "an IPv6 address needs brackets before its port, as in [::1]:9000")
		default:
			return "", 0, badAddr(s, "%s; %s", strings.TrimPrefix(err.Error(), "address "+s+": "), addrHelp)
		}
	}
	if strings.ContainsAny(host, " \t") {
		return "", 0, badAddr(s, "the host contains a space; %s", addrHelp)
	}
	p, err := parsePort(ps)
	if err != nil {
		return "", 0, badAddr(s, "%v", err)
	}
	return host, p, nil
}

func parsePort(ps string) (uint16, error) {
	if ps == "" {
		return 0, fmt.Errorf("missing port; %s", addrHelp)
	}
	if ps[0] >= '0' && ps[0] <= '9' || ps[0] == '-' || ps[0] == '+' {
		n, err := strconv.ParseInt(ps, 10, 64)
		if err != nil || n < 0 || n > 65535 {
			return 0, fmt.Errorf("port %q is not a number from 0 to 65535", ps)
		}
		return uint16(n), nil
	}
	n, err := net.LookupPort("udp", ps)
	if err != nil {
		return 0, fmt.Errorf("unknown service %q: give the port as a number from 0 to 65535", ps)
	}
	return uint16(n), nil
}

// ParseListenAddr parses an address to listen on without resolving names.
// It accepts "" (DefaultListenAddr), a port alone ("9000", bound to
// DefaultHost), ":PORT" (every interface, IPv4 and IPv6) and HOST:PORT.
// Port 0 asks the kernel for a free port. wildcard reports ":PORT".
func ParseListenAddr(s string) (host string, port uint16, wildcard bool, err error) {
	if s == "" {
		return DefaultHost, DefaultPort, false, nil
	}
	if isPortOnly(s) || !strings.ContainsAny(s, ":[]") {
		p, err := parsePort(s)
		if err != nil {
			return "", 0, false, badAddr(s, "%v", err)
		}
		return DefaultHost, p, false, nil
	}
	host, port, err = SplitAddr(s)
	if err != nil {
		return "", 0, false, err
	}
	return host, port, host == "", nil
}

// ResolveListen resolves an address to listen on (see ParseListenAddr). For
// ":PORT" it returns the IPv6 unspecified address, which Listen binds
// dual-stack (IPv4 and IPv6).
func ResolveListen(ctx context.Context, s string) (netip.AddrPort, error) {
	host, port, wildcard, err := ParseListenAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if wildcard {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), port), nil
	}
	ip, err := resolveHost(ctx, s, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ip, port), nil
}

// Resolve resolves a destination "host:port". The host may be an IPv4 or
// IPv6 literal or a name; a name that has both IPv4 and IPv6 addresses
// resolves to its first IPv4 address, the family listeners bind by
// default. A port alone ("9000") means DefaultHost, as it does for
// listening addresses. Port 0 and an empty host are refused: no datagram
// can be sent there. A name that does not resolve is an *Error of kind
// ErrNoSuchHost (a failure at run time); everything else wrong with s is
// ErrBadAddress.
func Resolve(ctx context.Context, s string) (netip.AddrPort, error) {
	if isPortOnly(s) {
		p, err := parsePort(s)
		if err != nil {
			return netip.AddrPort{}, badAddr(s, "%v", err)
		}
		if p == 0 {
			return netip.AddrPort{}, badAddr(s, "port 0 cannot be sent to; give the listener's port")
		}
		return netip.AddrPortFrom(netip.MustParseAddr(DefaultHost), p), nil
	}
	host, port, err := SplitAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "" {
		return netip.AddrPort{}, badAddr(s, "missing host; %s", addrHelp)
	}
	if port == 0 {
		return netip.AddrPort{}, badAddr(s, "port 0 cannot be sent to; give the listener's port")
	}
	ip, err := resolveHost(ctx, s, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ip, port), nil
}

// isPortOnly reports whether s is a port number alone, with no host.
func isPortOnly(s string) bool {
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

func resolveHost(ctx context.Context, s, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkZone(s, ip.Unmap())
	}
	if strings.Contains(host, ":") {
		return netip.Addr{}, badAddr(s, "%q is not a valid IPv6 address", host)
	}
	ctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return netip.Addr{}, &Error{Op: "resolve", Addr: s, Kind: ErrNoSuchHost,
				Err: fmt.Errorf("no such host %q: check the spelling, or use an IP address", host)}
		}
		return netip.Addr{}, &Error{Op: "resolve", Addr: s, Kind: ErrNoSuchHost,
			Err: fmt.Errorf("looking up %q failed: %v", host, causeText(err))}
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, &Error{Op: "resolve", Addr: s, Kind: ErrNoSuchHost, Err: fmt.Errorf("host %q has no address", host)}
	}
	return checkZone(s, ips[0])
}

// checkZone refuses a link-local IPv6 address without a zone, which
// the kernel rejects with a bare EINVAL: the same fe80:: address exists on
// every interface, so the interface must be named. A zone must name an
// interface of this machine (or be its index).
func checkZone(s string, ip netip.Addr) (netip.Addr, error) {
	if !ip.Is6() || !(ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast()) {
		return ip, nil
	}
	zone := ip.Zone()
	if zone == "" {
		return netip.Addr{}, badAddr(s, "%s is a link-local IPv6 address, which every interface has: name the interface with a zone, as in [%s%%eth0]:PORT (ip -6 addr shows each interface's fe80:: address)", ip, ip)
	}
	if isPortOnly(zone) {
		return ip, nil
	}
	if _, err := net.InterfaceByName(zone); err != nil {
		return netip.Addr{}, badAddr(s, "zone %q names no interface of this machine (ip link shows them)", zone)
	}
	return ip, nil
}

// network returns the Go network name for a socket bound to or sending to
// ip: "udp4" for IPv4, "udp" (dual-stack) for the IPv6 unspecified
// address, "udp6" for other IPv6 addresses.
func network(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "udp"
	case ip.Unmap().Is4():
		return "udp4"
	case ip.IsUnspecified():
		return "udp"
	default:
		return "udp6"
	}
}
