//go:build !unix

package dgram

import "net"

// readTraced is Read: elsewhere than on Unix nothing is traced.
func (r *Reader) readTraced() (Datagram, error) {
	t := r.tracer
	r.tracer = nil
	defer func() { r.tracer = t }()
	return r.Read()
}

// tryReadTraced is TryRead: elsewhere than on Unix nothing is traced.
func (r *Reader) tryReadTraced() (Datagram, bool, error) {
	t := r.tracer
	r.tracer = nil
	defer func() { r.tracer = t }()
	return r.TryRead()
}

func writeTraced(c *net.UDPConn, b []byte, t Tracer) (int, error) { return c.Write(b) }
