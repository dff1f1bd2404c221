//go:build !linux

package main

import (
	"net"
	"net/netip"
)

func enableRecvErr(c *net.UDPConn) bool { return false }

func refusedPeers(c *net.UDPConn) []netip.AddrPort { return nil }
