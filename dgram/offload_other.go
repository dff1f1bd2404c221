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
