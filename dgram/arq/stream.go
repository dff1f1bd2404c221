package arq

import "io"

// Writer returns an io.Writer that sends each Write as one message (up to
// MaxMessage bytes per message; larger writes are split).
func (c *Conn) Writer() io.Writer { return connWriter{c} }

type connWriter struct{ c *Conn }

func (w connWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 || n == 0 {
		k := min(len(p), w.c.m.cfg.MaxMessage)
		if err := w.c.Send(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
		if len(p) == 0 {
			break
		}
	}
	return n, nil
}

// Reader returns an io.Reader of the messages' bytes, one after another
// (the boundaries are lost, as in a stream); it returns io.EOF after the
// peer's last message.
func (c *Conn) Reader() io.Reader { return &connReader{c: c} }

type connReader struct {
	c    *Conn
	rest []byte
}

func (r *connReader) Read(p []byte) (int, error) {
	for len(r.rest) == 0 {
		m, err := r.c.Recv()
		if err != nil {
			return 0, err
		}
		r.rest = m
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}
