//go:build !(linux && (amd64 || arm64))

package dgram

import "net"

// KernelDrops is available on 64-bit Linux (amd64, arm64) only; elsewhere
// it reports the figure unknown, and a Reader falls back to SO_RXQ_OVFL
// where the system has it.
func KernelDrops(c *net.UDPConn) (uint64, bool) { return 0, false }
