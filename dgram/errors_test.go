package dgram

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	opErr := func(op string, errno error) error {
		return &net.OpError{Op: op, Net: "udp", Err: os.NewSyscallError(op+"msg", errno)}
	}
	tests := []struct {
		op, addr string
		err      error
		kind     error
		text     string
	}{
		{"listen", "127.0.0.1:9000", opErr("listen", syscall.EADDRINUSE), ErrAddrInUse,
			"address 127.0.0.1:9000 is already in use: is another listener running? stop it or pick another port"},
		{"listen", "0.0.0.0:80", opErr("listen", syscall.EACCES), ErrPermission,
			"permission denied binding 0.0.0.0:80: ports below 1024 need root or CAP_NET_BIND_SERVICE; use a port of 1024 or above"},
		{"send", "255.255.255.255:9", opErr("write", syscall.EACCES), ErrPermission,
			"permission denied sending to 255.255.255.255:9"},
		{"receive", "127.0.0.1:9", opErr("read", syscall.ECONNREFUSED), ErrRefused,
			"nobody is listening on 127.0.0.1:9 (its host answered ICMP port unreachable): start a listener there first, for example: udpchat listen 127.0.0.1:9"},
		{"send", "127.0.0.1:9", opErr("write", syscall.EMSGSIZE), ErrTooLong,
			"message too long for one UDP datagram to 127.0.0.1:9: message too long"},
		{"receive", "127.0.0.1:9", opErr("read", os.ErrDeadlineExceeded), ErrTimeout, "receive 127.0.0.1:9: timed out"},
		{"send", "10.0.0.1:9", opErr("write", syscall.ENETUNREACH), ErrUnreachable,
			"send 10.0.0.1:9: network is unreachable: check the address and this machine's routes"},
		{"send", "127.0.0.1:9", opErr("write", syscall.ENOBUFS), ErrNoBuffers,
			"send 127.0.0.1:9: the kernel's socket buffer is full (no buffer space available): send more slowly"},
		{"listen", "192.0.2.1:9", opErr("listen", syscall.EADDRNOTAVAIL), ErrAddrNotAvail,
			"address 192.0.2.1:9 is not available on this machine"},
	}
	for _, tt := range tests {
		err := Classify(tt.op, tt.addr, tt.err)
		if !errors.Is(err, tt.kind) {
			t.Errorf("Classify(%s, %v) = %v, want kind %v", tt.op, tt.err, err, tt.kind)
		}
		var errno syscall.Errno
		if errors.As(tt.err, &errno) && !errors.Is(err, errno) {
			t.Errorf("Classify(%s, %v) lost the cause %v", tt.op, tt.err, errno)
		}
		if !strings.HasPrefix(err.Error(), tt.text) {
			t.Errorf("Classify(%s, %v).Error() = %q, want it to start %q", tt.op, tt.err, err.Error(), tt.text)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Classify(%s, %v).Error() has a newline: %q", tt.op, tt.err, err.Error())
		}
	}
}

func TestClassifyPassesThrough(t *testing.T) {
	if Classify("send", "x", nil) != nil {
		t.Error("Classify(nil) != nil")
	}
	closed := fmt.Errorf("read: %w", net.ErrClosed)
	if got := Classify("receive", "x", closed); got != closed {
		t.Errorf("Classify(closed) = %v, want it unchanged", got)
	}
	e := &Error{Op: "send", Addr: "x", Kind: ErrRefused}
	if got := Classify("receive", "y", e); got != e {
		t.Errorf("Classify(*Error) = %v, want it unchanged", got)
	}
	other := errors.New("something odd")
	got := Classify("send", "127.0.0.1:9", other)
	if !errors.Is(got, other) || got.Error() != "send 127.0.0.1:9: something odd" {
		t.Errorf("Classify(other) = %q, want the cause kept", got)
	}
}

func TestErrorIsNetError(t *testing.T) {
	err := Classify("receive", "127.0.0.1:9", os.ErrDeadlineExceeded)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("timeout error %v is not a net.Error with Timeout()", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("timeout error %v does not match os.ErrDeadlineExceeded", err)
	}
	e := &Error{Op: "receive", Addr: "127.0.0.1:9", Kind: ErrTimeout, Wait: 2 * time.Second}
	if got, want := e.Error(), "receive 127.0.0.1:9: nothing within 2s"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	refused := &Error{Kind: ErrRefused}
	if refused.Timeout() || refused.Temporary() {
		t.Errorf("ErrRefused reports Timeout or Temporary")
	}
}
