//go:build !linux

package pmtu

import (
	"errors"
	"net"
)

// errUnsupported: path MTU discovery needs Linux's socket options.
var errUnsupported = errors.New("pmtu: don't-fragment and the path MTU need Linux (IP_MTU_DISCOVER, IP_MTU)")

// SetDF sets don't-fragment on c (Linux only).
func SetDF(c *net.UDPConn, m Mode) error { return errUnsupported }

// PathMTU returns the path MTU the kernel knows for c's peer (Linux only).
func PathMTU(c *net.UDPConn) (int, error) { return 0, errUnsupported }

func enableErrQueue(c *net.UDPConn) error { return errUnsupported }

func readErrQueue(c *net.UDPConn, buf, oob []byte) ([]report, error) { return nil, errUnsupported }

const (
	originLocal = 1
	originICMP  = 2
	originICMP6 = 3
)
