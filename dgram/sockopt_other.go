//go:build !linux

package dgram

import (
	"errors"
	"net"
)

// EnableDropCounter is only available on Linux.
func EnableDropCounter(c *net.UDPConn) error {
	return errors.New("dgram: the receive-buffer drop counter needs Linux (SO_RXQ_OVFL)")
}

// SetBuffers asks for SO_RCVBUF and SO_SNDBUF sizes; outside Linux it cannot
// read back what was granted and returns the requests.
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
	return rcv, snd, nil
}

// isIPv6Socket guesses the socket's family from its address.
func isIPv6Socket(c *net.UDPConn) bool {
	a := LocalAddrPort(c).Addr()
	return a.Is6() && !a.Is4In6()
}
