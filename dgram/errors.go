package dgram

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Sentinel errors. Every error this package returns for a failed socket
// operation is an *Error whose Kind is one of these, so callers test with
// errors.Is(err, dgram.ErrRefused) and the like. The underlying cause (a
// syscall.Errno, a *net.DNSError, ...) stays reachable through errors.Is and
// errors.As as well.
var (
	// ErrBadAddress: the address could not be parsed, or cannot be used as
	// it is written (a link-local IPv6 address without its zone).
	ErrBadAddress = errors.New("bad address")
	// ErrNoSuchHost: a host name did not resolve: no such host, no address,
	// or the resolver failed. The address was well formed; the name is the
	// problem, at run time.
	ErrNoSuchHost = errors.New("name did not resolve")
	// ErrAddrInUse: another socket is bound to the address (EADDRINUSE).
	ErrAddrInUse = errors.New("address already in use")
	// ErrAddrNotAvail: the address is not one of this machine's (EADDRNOTAVAIL).
	ErrAddrNotAvail = errors.New("address not available")
	// ErrPermission: the kernel refused the operation (EACCES, EPERM), most
	// often a bind to a port below 1024 without privilege.
	ErrPermission = errors.New("permission denied")
	// ErrRefused: the peer's host answered ICMP port unreachable, which a
	// connected UDP socket reports as ECONNREFUSED: nobody is listening.
	ErrRefused = errors.New("connection refused")
	// ErrTooLong: the payload does not fit in one datagram (EMSGSIZE, or
	// refused by CheckSize before the syscall).
	ErrTooLong = errors.New("message too long")
	// ErrTimeout: a deadline passed before a datagram arrived or was sent.
	ErrTimeout = errors.New("timeout")
	// ErrUnreachable: no route to the network or host.
	ErrUnreachable = errors.New("unreachable")
	// ErrNoBuffers: the kernel had no buffer space for the send (ENOBUFS,
	// or EAGAIN on a full socket buffer); the datagram was not sent.
	ErrNoBuffers = errors.New("no buffer space")
	// ErrTruncated: a datagram was larger than the buffer it was read into;
	// the rest of it is lost (UDP never hands it over on a later read).
	ErrTruncated = errors.New("datagram truncated")
	// ErrClosed: the socket was closed. It wraps net.ErrClosed.
	ErrClosed = net.ErrClosed
)

// Error describes a failed operation on a UDP socket in words a user can act
// on. Error() is one line: what failed, why, and what to do.
type Error struct {
	Op    string        // "listen", "dial", "send", "receive" or "resolve"
	Addr  string        // the address involved
	Kind  error         // one of the package's sentinel errors
	Err   error         // the underlying cause; may be nil
	Size  int           // ErrTooLong: the payload size
	Limit int           // ErrTooLong: the limit that was exceeded
	Wait  time.Duration // ErrTimeout: how long was waited, when known
}

// Error implements error.
func (e *Error) Error() string {
	cause := ""
	if e.Err != nil {
		cause = causeText(e.Err)
	}
	switch e.Kind {
	case ErrBadAddress:
		if cause != "" {
			return fmt.Sprintf("bad address %q: %s", e.Addr, cause)
		}
		return fmt.Sprintf("bad address %q", e.Addr)
	case ErrNoSuchHost:
		return fmt.Sprintf("cannot resolve %s: %s", e.Addr, cause)
	case ErrAddrInUse:
		return fmt.Sprintf("address %s is already in use: is another listener running? stop it or pick another port", e.Addr)
	case ErrAddrNotAvail:
		return fmt.Sprintf("address %s is not available on this machine: bind to one of its own addresses (127.0.0.1, ::1, or an interface's address) or leave the host empty (:PORT)", e.Addr)
	case ErrPermission:
		if e.Op == "listen" || e.Op == "bind" {
			return fmt.Sprintf("permission denied binding %s: ports below 1024 need root or CAP_NET_BIND_SERVICE; use a port of 1024 or above", e.Addr)
		}
		return fmt.Sprintf("permission denied sending to %s: a broadcast address needs SO_BROADCAST, or a firewall refused it", e.Addr)
	case ErrRefused:
		return fmt.Sprintf("nobody is listening on %s (its host answered ICMP port unreachable): start a listener there first, for example: udpchat listen %s", e.Addr, e.Addr)
	case ErrTooLong:
		if e.Limit > 0 {
			fam := "IPv4"
			if e.Limit == MaxPayloadIPv6 {
				fam = "IPv6"
			}
			return fmt.Sprintf("message of %d bytes is too long for one UDP datagram to %s: the limit over %s is %d bytes; send less or split it", e.Size, e.Addr, fam, e.Limit)
		}
		return fmt.Sprintf("message too long for one UDP datagram to %s: %s", e.Addr, cause)
	case ErrTimeout:
		if e.Wait > 0 {
			return fmt.Sprintf("%s %s: nothing within %v", e.Op, e.Addr, e.Wait)
		}
		return fmt.Sprintf("%s %s: timed out", e.Op, e.Addr)
	case ErrUnreachable:
		return fmt.Sprintf("%s %s: %s: check the address and this machine's routes", e.Op, e.Addr, cause)
	case ErrNoBuffers:
		return fmt.Sprintf("%s %s: the kernel's socket buffer is full (%s): send more slowly", e.Op, e.Addr, cause)
	case ErrTruncated:
		return fmt.Sprintf("datagram from %s truncated: it had %d bytes, the buffer holds %d", e.Addr, e.Size, e.Limit)
	}
	if cause == "" {
		cause = "failed"
	}
	return fmt.Sprintf("%s %s: %s", e.Op, e.Addr, cause)
}

// Unwrap returns the sentinel kind and the underlying cause, so that
// errors.Is matches either.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Timeout reports whether the error is a timeout; with Temporary it makes
// *Error satisfy net.Error.
func (e *Error) Timeout() bool { return e.Kind == ErrTimeout }

// Temporary reports whether retrying may succeed (timeouts and full
// buffers). It exists to satisfy net.Error.
func (e *Error) Temporary() bool { return e.Kind == ErrTimeout || e.Kind == ErrNoBuffers }

var _ net.Error = (*Error)(nil)

// causeText returns the innermost useful text of err: the errno's text
// rather than Go's "write udp 127.0.0.1:1->127.0.0.1:2: " prefixes.
func causeText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return fmt.Sprintf("no such host %q", dnsErr.Name)
		}
		return dnsErr.Err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return causeText(opErr.Err)
	}
	return err.Error()
}

// Classify turns an error from the net package or the kernel into an *Error
// with a Kind, for the operation op ("listen", "send", ...) on addr. It
// returns nil for nil, and err unchanged when it is already an *Error or
// when the socket was closed (so errors.Is(err, net.ErrClosed) still holds).
func Classify(op, addr string, err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, net.ErrClosed) {
		return err
	}
	kind := kindOf(err)
	if kind == nil {
		return &Error{Op: op, Addr: addr, Kind: errUnclassified, Err: err}
	}
	return &Error{Op: op, Addr: addr, Kind: kind, Err: err}
}

// errUnclassified is the Kind of errors no sentinel describes.
var errUnclassified = errors.New("socket error")

func kindOf(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, syscall.EADDRINUSE):
		return ErrAddrInUse
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return ErrAddrNotAvail
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return ErrPermission
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.EMSGSIZE):
		return ErrTooLong
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return ErrUnreachable
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.EAGAIN):
		return ErrNoBuffers
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return ErrNoSuchHost
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return nil
}
