package dgram

import "net"

// Socket options of SOL_UDP.
const (
	solUDP     = 17
	udpSegment = 103
	udpGRO     = 104
)

// EnableGRO asks the kernel to coalesce received datagrams of one flow
// (UDP_GRO); Batch reads then report Message.Segment. It fails on kernels
// without UDP GRO (before 5.0); callers fall back to plain reads.
func EnableGRO(c *net.UDPConn) error { return setsockoptInt(c, solUDP, udpGRO, 1) }

// GSOSupported reports whether the kernel accepts UDP_SEGMENT on c, so that
// a Batch write may carry Message.Segment.
func GSOSupported(c *net.UDPConn) bool {
	_, err := getsockoptInt(c, solUDP, udpSegment)
	return err == nil
}
