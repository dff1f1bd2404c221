package bench

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The raw latency path waits in poll(2) on its own thread; it never turns
// the socket, which Go's poller owns, into a blocking one (another
// goroutine reading it would block a thread, and Close could not wake it).
func TestRawPathKeepsNonblocking(t *testing.T) {
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	cc, err := net.DialUDP("udp4", nil, sc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	rc, _ := sc.SyscallConn()
	nonblocking := func() bool {
		var fl int
		rc.Control(func(fd uintptr) { fl, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) })
		return fl&unix.O_NONBLOCK != 0
	}
	var during bool
	var got string
	err = rawSocket(sc, 10*time.Millisecond, func(r *rawConn) {
		during = nonblocking()
		cc.Write([]byte("probe"))
		buf := make([]byte, 100)
		for range 500 { // bounded: 5 s of ticks
			if n := r.recv(buf, false); n >= 0 {
				got = string(buf[:n])
				r.reply([]byte("back"))
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !during || !nonblocking() {
		t.Errorf("O_NONBLOCK during the raw path %v, after %v; want it kept on", during, nonblocking())
	}
	if got != "probe" {
		t.Fatalf("raw recv = %q, want probe", got)
	}
	cc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 10)
	if n, err := cc.Read(b); err != nil || string(b[:n]) != "back" {
		t.Errorf("reply = %q, %v", b[:n], err)
	}
}
