package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram/netem"
)

// demoProgress tells the user, on stderr, about a demo run that takes more
// than a second (a long --delay, a slow --rate, a large --count): on a
// terminal, a line that counts the datagrams out of the link and the time
// to go; elsewhere, one line that says how long the run will take. Both
// say that Ctrl-C stops it. est 0: a run of computation, whose length is
// not known in advance; it counts what is done.
type demoProgress struct {
	w     io.Writer
	tty   bool
	total int
	est   time.Duration
	start time.Time
	n     atomic.Int64 // datagrams out of the link
	stop  chan struct{}
	done  chan struct{}
}

// progressAfter is how long a run goes before it shows progress.
const progressAfter = time.Second

func startDemoProgress(w io.Writer, tty bool, total int, est time.Duration) *demoProgress {
	p := &demoProgress{w: w, tty: tty, total: total, est: est, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// add counts n more datagrams out of the link.
func (p *demoProgress) add(n int) { p.n.Add(int64(n)) }

// end stops the reporter and clears its line; it waits for the goroutine.
func (p *demoProgress) end() {
	close(p.stop)
	<-p.done
}

func (p *demoProgress) run() {
	defer close(p.done)
	t := time.NewTimer(progressAfter)
	defer t.Stop()
	select {
	case <-p.stop:
		return
	case <-t.C:
	}
	if !p.tty && p.est == 0 {
		fmt.Fprintf(p.w, "demo: this run takes a while (%d of %d done after %s); Ctrl-C stops it\n", p.n.Load(), p.total, roundDur(time.Since(p.start)))
		return
	}
	if !p.tty {
		fmt.Fprintf(p.w, "demo: this run takes about %s (--count, --interval, --delay and --rate set its pace); %d of %d datagrams out of the link so far; Ctrl-C stops it\n",
			roundDur(p.est), p.n.Load(), p.total)
		return
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		n := p.n.Load()
		elapsed := time.Since(p.start)
		if p.est == 0 {
			fmt.Fprintf(p.w, "\rdemo: %d of %d done, %s; Ctrl-C stops\x1b[K", n, p.total, roundDur(elapsed))
		} else {
			fmt.Fprintf(p.w, "\rdemo: %d of %d datagrams out of the link, %s, about %s to go; Ctrl-C stops\x1b[K",
				n, p.total, roundDur(elapsed), roundDur(max(p.est-elapsed, 0)))
		}
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\x1b[K")
			return
		case <-tick.C:
		}
	}
}

func roundDur(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// demoDuration estimates how long count datagrams take through cfg: the
// sending itself, the rate limit's queue, and the longest hold.
func demoDuration(cfg netem.Config, count int, interval time.Duration) time.Duration {
	d := time.Duration(max(count-1, 0)) * interval
	if cfg.Rate > 0 {
		const demoDatagramBits = 40 * 8 // header, "demo message N", checksum
		d = max(d, time.Duration(float64(count)*demoDatagramBits/cfg.Rate*float64(time.Second)))
	}
	hold := cfg.Delay + cfg.Jitter
	if cfg.Reorder > 0 {
		hold += max(cfg.ReorderHold, netem.DefaultReorderHold)
	}
	return d + hold
}

// sleepCtx waits d, or until ctx ends (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
