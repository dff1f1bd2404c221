//go:build !linux

package bench

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// rawConn is the latency path's socket, on Linux only.
type rawConn struct{ failed bool }

func rawSocket(conn *net.UDPConn, tick time.Duration, f func(r *rawConn)) error {
	return errors.New("bench: the raw latency path needs Linux")
}

func (r *rawConn) recv(buf []byte, dontwait bool) int { return -1 }

func (r *rawConn) reply(b []byte) error { return errors.New("bench: the raw latency path needs Linux") }

func (r *rawConn) from() netip.AddrPort { return netip.AddrPort{} }

func (r *rawConn) send(b []byte) error { return errors.New("bench: the raw latency path needs Linux") }

const haveRaw = false
