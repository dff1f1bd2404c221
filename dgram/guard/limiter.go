package guard

import (
	"net/netip"
	"time"
)

// LimiterConfig sets a Limiter's rates. The zero value of a field means
// its default; a negative rate means no limit.
type LimiterConfig struct {
	PerSource  float64 // events per second per source address; burst is one second's worth
	Total      float64 // events per second in all; burst is one second's worth
	MaxSources int     // bound of the per-address table (default DefaultMaxSources)
}

// Limiter is the Guard's token buckets on their own: an event (a costly
// piece of work a stranger asks for) is allowed while the source address's
// bucket and the global one both hold a token. The table of addresses is
// bounded, least recently used out. A Limiter is not safe for concurrent
// use.
type Limiter struct {
	cfg     LimiterConfig
	total   bucket
	sources table[struct{}]
	counts  [NumVerdicts]uint64
}

// NewLimiter returns a Limiter; defaults are the Guard's (DefaultPerSource,
// DefaultTotal, DefaultMaxSources).
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.PerSource == 0 {
		cfg.PerSource = DefaultPerSource
	}
	if cfg.Total == 0 {
		cfg.Total = DefaultTotal
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	l := &Limiter{cfg: cfg, sources: newTable[struct{}](cfg.MaxSources)}
	l.total.tokens = max(cfg.Total, 0)
	return l
}

// Allow takes a token for one event from addr at now: Allow, SourceRate
// (addr used up its bucket) or TotalRate (the global bucket is empty).
// The verdict is counted.
func (l *Limiter) Allow(addr netip.Addr, now time.Time) Verdict {
	v := Allow
	if !l.total.has(now, l.cfg.Total) {
		// The global bucket is empty (a flood from many addresses): no
		// need to look the address up, nor to take its token.
		v = TotalRate
	} else {
		e := l.sources.get(addr.Unmap(), now, l.cfg.PerSource)
		switch {
		case !e.bucket.take(now, l.cfg.PerSource):
			v = SourceRate
		case !l.total.take(now, l.cfg.Total):
			v = TotalRate
		}
	}
	l.counts[v]++
	return v
}

// Config returns the limiter's settings, defaults filled in.
func (l *Limiter) Config() LimiterConfig { return l.cfg }

// Counts returns how many events got each verdict (only Allow, SourceRate
// and TotalRate occur).
func (l *Limiter) Counts() [NumVerdicts]uint64 { return l.counts }

// Sources is the number of addresses in the table.
func (l *Limiter) Sources() int { return len(l.sources.m) }

// Evicted is the number of addresses forgotten to keep the table bounded.
func (l *Limiter) Evicted() uint64 { return l.sources.evicted }
