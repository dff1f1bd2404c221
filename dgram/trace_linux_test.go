package dgram

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recorder keeps the system calls a Tracer is told of.
type recorder struct {
	mu    sync.Mutex
	calls []Syscall
}

func (r *recorder) Syscall(s *Syscall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *s
	c.Datagrams = append([]TracedDatagram(nil), s.Datagrams...)
	r.calls = append(r.calls, c)
}

func (r *recorder) take() []Syscall {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// TestTracer: each system call that moves datagrams is told, with its
// descriptor and result: a read that found nothing (EAGAIN) and then the
// datagram, a write on a connected socket, recvmmsg and sendmmsg, and a
// non-blocking recvmsg.
func TestTracer(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := DialAddrPort(LocalAddrPort(srv), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	fdOf := func(c *net.UDPConn) int {
		rc, _ := c.SyscallConn()
		var fd int
		_ = rc.Control(func(f uintptr) { fd = int(f) })
		return fd
	}
	var rec recorder
	r := NewReader(cli, 0)
	r.SetTracer(&rec)
	if d, ok, err := r.TryRead(); ok || err != nil {
		t.Fatalf("TryRead on an empty socket = %v, %v, %v", d, ok, err)
	}
	if n, err := WriteTraced(cli, []byte("hello"), &rec); n != 5 || err != nil {
		t.Fatalf("WriteTraced = %d, %v", n, err)
	}
	calls := rec.take()
	if len(calls) != 2 || calls[0].Name != "recvmsg" || calls[0].Flags != unix.MSG_DONTWAIT || calls[0].Errno != unix.EAGAIN ||
		calls[1].Name != "write" || calls[1].Ret != 5 || calls[1].FD != fdOf(cli) {
		t.Fatalf("calls %+v", calls)
	}

	// the server answers through a traced Conn (recvmmsg, sendmmsg)
	bc, err := NewConn(srv, ConnConfig{Tracer: &rec})
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]Message, 4)
	for i := range ms {
		ms[i].Buf = make([]byte, 100)
	}
	if n, err := bc.ReadBatch(ms); n != 1 || err != nil {
		t.Fatalf("ReadBatch = %d, %v", n, err)
	}
	ms[0].ReplyTo(&ms[0])
	ms[0].Buf = ms[0].Buf[:ms[0].N]
	if n, err := bc.WriteBatch(ms[:1]); n != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	calls = rec.take()
	me := LocalAddrPort(cli)
	if len(calls) != 2 || calls[0].Name != "recvmmsg" || calls[0].Arg != 4 || calls[0].Ret != 1 || calls[0].Datagrams[0] != (TracedDatagram{Addr: me, Len: 5}) ||
		calls[1].Name != "sendmmsg" || calls[1].Ret != 1 || calls[1].Datagrams[0] != (TracedDatagram{Addr: me, Len: 5}) || calls[0].FD != fdOf(srv) {
		t.Fatalf("server calls %+v", calls)
	}

	// the client's blocking read: the echo is queued, so one recvmsg
	_ = cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	d, err := r.Read()
	if err != nil || string(d.Data) != "hello" {
		t.Fatalf("Read = %q, %v", d.Data, err)
	}
	calls = rec.take()
	if len(calls) != 1 || calls[0].Name != "recvmsg" || calls[0].Ret != 5 || calls[0].Datagrams[0].Addr != LocalAddrPort(srv) {
		t.Fatalf("read calls %+v", calls)
	}
	// nothing queued: EAGAIN, then the poller, then the deadline
	_ = cli.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := r.Read(); err == nil {
		t.Fatal("a read with nothing to read returned no error")
	} else if e, ok := err.(*Error); !ok || e.Kind != ErrTimeout {
		t.Fatalf("Read after the deadline = %v, want ErrTimeout", err)
	}
	if calls = rec.take(); len(calls) == 0 || calls[0].Errno != unix.EAGAIN {
		t.Fatalf("calls of a read that timed out: %+v", calls)
	}
	// untraced again: nothing is told
	r.SetTracer(nil)
	if _, _, err := r.TryRead(); err != nil {
		t.Fatal(err)
	}
	if calls = rec.take(); len(calls) != 0 {
		t.Fatalf("untraced Reader told %+v", calls)
	}
}
