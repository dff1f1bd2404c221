package netem

import (
	"bufio"
	"io"
	"strconv"
	"sync"
)

// Logger writes every decision as a JSON line, so a run can be explained
// and compared afterwards:
//
//	{"dir":"up","client":"127.0.0.1:40000","index":7,"size":64,"action":"deliver","delay_ms":10.250,"dup":true}
//	{"dir":"up","client":"127.0.0.1:40000","index":8,"size":64,"action":"drop","cause":"loss"}
//
// Fields: dir (up or down for a proxy, write or read for Wrap), client (a
// proxy's client), index (the datagram's number in its direction, from
// 1), size, action (deliver or drop), cause (loss, burst, script, queue,
// limit), delay_ms (the drawn delay, jitter and scripted delay; not the
// rate limiter's queueing), dup, corrupt_bit, hold (held back for
// reordering), swap (held by the script). Decisions that come from the
// PRNG are the same for the same seed and input; queue and limit drops
// depend on timing. A nil *Logger logs nothing.
type Logger struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
	err error
}

// NewLogger returns a Logger writing to w (buffered: call Flush).
func NewLogger(w io.Writer) *Logger { return &Logger{w: bufio.NewWriterSize(w, 64<<10)} }

func (lg *Logger) decision(l *Link, d *Decision, _ string) {
	if lg == nil {
		return
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	b := append(lg.buf[:0], `{"dir":"`...)
	b = append(b, l.name...)
	b = append(b, '"')
	if l.peer != "" {
		b = append(b, `,"client":"`...)
		b = append(b, l.peer...)
		b = append(b, '"')
	}
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, d.Index, 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(d.Size), 10)
	if d.Drop {
		b = append(b, `,"action":"drop","cause":"`...)
		b = append(b, d.Cause.String()...)
		b = append(b, `"}`...)
	} else {
		b = append(b, `,"action":"deliver","delay_ms":`...)
		b = strconv.AppendFloat(b, float64(d.Delay.Nanoseconds())/1e6, 'f', 3, 64)
		if d.Dup {
			b = append(b, `,"dup":true`...)
		}
		if d.Corrupt {
			b = append(b, `,"corrupt_bit":`...)
			b = strconv.AppendInt(b, int64(d.Bit), 10)
		}
		if d.Hold {
			b = append(b, `,"hold":true`...)
		}
		if d.Swap {
			b = append(b, `,"swap":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, '\n')
	lg.buf = b
	if _, err := lg.w.Write(b); err != nil && lg.err == nil {
		lg.err = err
	}
}

// Flush writes out what is buffered and returns the first write error.
func (lg *Logger) Flush() error {
	if lg == nil {
		return nil
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if err := lg.w.Flush(); err != nil && lg.err == nil {
		lg.err = err
	}
	return lg.err
}
