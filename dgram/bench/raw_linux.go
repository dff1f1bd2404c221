package bench

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpchat/udpchat/dgram"
)

// The latency path runs where a C program would: on a thread of its own
// that sleeps in the kernel (poll(2)) until its socket is readable, or
// spins on non-blocking reads for busy polling, so that the kernel wakes
// exactly the waiting thread. Go's poller would add a hand-off through
// epoll and the scheduler to every round trip, which a microsecond
// benchmark against sockperf shows.
//
// The socket stays as Go's runtime made it, non-blocking and registered
// with the poller: the thread waits in poll(2) on the descriptor and reads
// with recvmmsg(2) when it is ready (through dgram.Batch), so nothing
// needs restoring afterwards and a Close from another goroutine still
// wakes every reader.

// rawConn is one socket seen from the latency path's thread.
type rawConn struct {
	b     *dgram.Batch
	rc    syscall.RawConn
	pfd   [1]unix.PollFd
	tick  unix.Timespec
	waitF func(fd uintptr)
	in    [1]dgram.Message
	out   [1]dgram.Message
	// failed reports that the last recv ended with an error (such as an
	// ICMP error reported by the socket) rather than with nothing queued.
	failed bool
}

// rawSocket runs f on a locked thread with conn seen as a rawConn whose
// waits last at most tick, so that f can look at the clock.
func rawSocket(conn *net.UDPConn, tick time.Duration, f func(r *rawConn)) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	b, err := dgram.NewBatch(conn, 1)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := &rawConn{b: b, rc: rc, tick: unix.NsecToTimespec(tick.Nanoseconds())}
	r.waitF = r.wait
	f(r)
	return nil
}

// wait sleeps in poll(2) until the descriptor is readable or the tick
// passes.
func (r *rawConn) wait(fd uintptr) {
	r.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	_, _ = unix.Ppoll(r.pfd[:], &r.tick, nil)
}

// recv reads one datagram into buf: after waiting up to the tick, or, with
// dontwait, only if one is queued. It returns its length, or -1 when none
// came (or the socket's read deadline passed, or it was closed); the
// datagram's addresses are in r.in[0].
func (r *rawConn) recv(buf []byte, dontwait bool) int {
	if !dontwait {
		if err := r.rc.Control(r.waitF); err != nil {
			return -1
		}
	}
	r.in[0].Buf = buf
	n, err := r.b.TryRead(r.in[:])
	r.failed = err != nil
	if n != 1 || err != nil {
		return -1
	}
	return r.in[0].N
}

// reply sends b to the sender of the datagram recv read last, from the
// address it contacted.
func (r *rawConn) reply(b []byte) error {
	r.out[0].ReplyTo(&r.in[0])
	r.out[0].Buf = b
	_, err := r.b.Write(r.out[:])
	if errors.Is(err, dgram.ErrRefused) {
		// an ICMP error for an earlier datagram (IP_RECVERR), reported
		// by this call instead of sending: once more
		_, err = r.b.Write(r.out[:])
	}
	return err
}

// from is the sender of the datagram recv read last.
func (r *rawConn) from() netip.AddrPort { return r.in[0].Addr }

// send sends b to the connected peer.
func (r *rawConn) send(b []byte) error {
	r.out[0] = dgram.Message{Buf: b}
	_, err := r.b.Write(r.out[:])
	return err
}

const haveRaw = true
