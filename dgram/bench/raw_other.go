//go:build !(linux && (amd64 || arm64))

package bench

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

type rawAddr struct{}

func (a *rawAddr) addrPort() netip.AddrPort { return netip.AddrPort{} }

func rawSocket(conn *net.UDPConn, tick time.Duration, f func(fd int)) error {
	return errors.New("bench: raw sockets need Linux")
}

func recvFrom(fd int, b []byte, from *rawAddr, dontwait bool) int { return -1 }

func sendTo(fd int, b []byte, to *rawAddr) error { return errors.New("bench: raw sockets need Linux") }

const haveRaw = false
