package main

import (
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seq"
)

// printRaw writes d's payload alone, its bytes as they are, for
// `listen --raw > file`. With --seq it writes the payload after the
// header, once: not for duplicates, stale or malformed datagrams, which
// the summary (on stderr) counts.
func (l *listener) printRaw(d dgram.Datagram, now time.Time) error {
	p := d.Data
	if l.tracker != nil {
		l.tracker.ObserveTo(&l.ev, d.From, d.Data, now)
		switch l.ev.Kind {
		case seq.Malformed, seq.Duplicate, seq.Stale:
			return nil
		}
		p = l.ev.Payload
	}
	_, err := l.out.Write(p)
	return err
}
