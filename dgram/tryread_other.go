//go:build !unix

package dgram

import (
	"errors"
	"time"
)

// TryRead reads a datagram only if one arrives within a millisecond; ok is
// false when none did. (Unix systems read without waiting at all.)
func (r *Reader) TryRead() (d Datagram, ok bool, err error) {
	if err := r.c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return Datagram{}, false, err
	}
	d, err = r.Read()
	if errors.Is(err, ErrTimeout) {
		return Datagram{}, false, nil
	}
	return d, err == nil, err
}
