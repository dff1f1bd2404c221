//go:build !linux

package dgram

import (
	"errors"
	"net"
)

// EnableGRO needs Linux.
func EnableGRO(c *net.UDPConn) error { return errors.New("dgram: UDP GRO needs Linux") }

// GSOSupported is false outside Linux.
func GSOSupported(c *net.UDPConn) bool { return false }

// KernelDrops is available on Linux only; elsewhere it reports the figure
// unknown.
func KernelDrops(c *net.UDPConn) (uint64, bool) { return 0, false }
