package dgram

import (
	"net"

	"golang.org/x/sys/unix"
)

// EnableDropCounter asks the kernel to attach to each received datagram the
// number of datagrams it has dropped on this socket because its receive
// buffer was full (SO_RXQ_OVFL, Linux): Message.Drops and Datagram.Drops.
// It is an explicit option (ConnConfig.Drops): KernelDrops and
// Reader.Drops read the same counter at any time without it.
func EnableDropCounter(c *net.UDPConn) error {
	return setsockoptInt(c, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
}

// SetBuffers asks for SO_RCVBUF and SO_SNDBUF sizes (0 leaves one alone) and
// returns what the kernel granted. Linux doubles the request for its own
// bookkeeping and caps it at net.core.rmem_max / wmem_max, so the figures
// returned are what getsockopt reads back, not what was asked.
func SetBuffers(c *net.UDPConn, rcv, snd int) (gotRcv, gotSnd int, err error) {
	if rcv > 0 {
		if err := c.SetReadBuffer(rcv); err != nil {
			return 0, 0, err
		}
	}
	if snd > 0 {
		if err := c.SetWriteBuffer(snd); err != nil {
			return 0, 0, err
		}
	}
	gotRcv, err = getsockoptInt(c, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return 0, 0, err
	}
	gotSnd, err = getsockoptInt(c, unix.SOL_SOCKET, unix.SO_SNDBUF)
	return gotRcv, gotSnd, err
}

// isIPv6Socket reports whether c is an AF_INET6 socket (possibly
// dual-stack).
func isIPv6Socket(c *net.UDPConn) bool {
	f, err := getsockoptInt(c, unix.SOL_SOCKET, unix.SO_DOMAIN)
	return err == nil && f == unix.AF_INET6
}

func setsockoptInt(c *net.UDPConn, level, opt, v int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), level, opt, v)
	}); err != nil {
		return err
	}
	if serr != nil {
		return &net.OpError{Op: "setsockopt", Net: "udp", Err: serr}
	}
	return nil
}

func getsockoptInt(c *net.UDPConn, level, opt int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), level, opt)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, &net.OpError{Op: "getsockopt", Net: "udp", Err: serr}
	}
	return v, nil
}
