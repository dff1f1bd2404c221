//go:build !linux

package main

import "net"

// queuedBytes is unknown outside Linux.
func queuedBytes(c net.Conn) (int, bool) { return 0, false }
