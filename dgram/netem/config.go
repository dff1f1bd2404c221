package netem

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Dist is the distribution of jitter.
type Dist uint8

// Jitter distributions.
const (
	// Uniform jitter lies evenly in [Delay-Jitter, Delay+Jitter].
	Uniform Dist = iota
	// Normal jitter has mean Delay and standard deviation Jitter.
	Normal
)

// String returns "uniform" or "normal".
func (d Dist) String() string {
	if d == Normal {
		return "normal"
	}
	return "uniform"
}

// GilbertElliott is a two-state burst-loss model, as Linux netem's "loss
// gemodel p r 1-h 1-k": the link is Good or Bad; each datagram is lost with
// the probability of the state it arrives in (LossGood, LossBad), then the
// state changes (Good to Bad with probability P, Bad to Good with R). In the
// classic Gilbert model (LossGood 0, LossBad 1) the mean loss is P/(P+R)
// and the mean burst of consecutive losses is 1/R datagrams.
type GilbertElliott struct {
	P        float64 // Good -> Bad
	R        float64 // Bad -> Good
	LossGood float64 // loss probability in Good (netem's 1-k)
	LossBad  float64 // loss probability in Bad (netem's 1-h)
}

// Burst returns the classic Gilbert model (no loss in Good, all lost in
// Bad) whose mean loss is loss and mean burst length meanLen datagrams:
// R = 1/meanLen, P = loss*R/(1-loss).
func Burst(loss, meanLen float64) (*GilbertElliott, error) {
	if !(loss > 0 && loss < 1) {
		return nil, fmt.Errorf("netem: burst loss needs an average loss between 0 and 1, got %v", loss)
	}
	if !(meanLen >= 1) || math.IsInf(meanLen, 0) {
		return nil, fmt.Errorf("netem: mean burst length must be at least 1 datagram, got %v", meanLen)
	}
	r := 1 / meanLen
	p := loss * r / (1 - loss)
	if p > 1 {
		return nil, fmt.Errorf("netem: an average loss of %v with bursts of %v datagrams is impossible (P would be %.3g > 1)", loss, meanLen, p)
	}
	return &GilbertElliott{P: p, R: r, LossGood: 0, LossBad: 1}, nil
}

// MeanLoss returns the model's long-run loss probability.
func (g *GilbertElliott) MeanLoss() float64 {
	if g.P+g.R == 0 {
		return g.LossGood
	}
	bad := g.P / (g.P + g.R)
	return bad*g.LossBad + (1-bad)*g.LossGood
}

// Config describes one direction of an impaired link. The zero value
// forwards everything untouched. Every probability is in [0, 1].
type Config struct {
	// Loss drops each datagram independently with this probability
	// (Bernoulli). Ignored when GE is set.
	Loss float64
	// GE, when set, replaces Loss with Gilbert-Elliott burst loss.
	GE *GilbertElliott

	// Delay holds every datagram this long; Jitter varies it (see
	// JitterDist), never below zero.
	Delay, Jitter time.Duration
	// JitterDist is Uniform (default) or Normal.
	JitterDist Dist
	// JitterReorders lets jitter reorder datagrams: a datagram whose
	// delay comes out shorter overtakes earlier ones. Without it (the
	// default), a datagram never leaves before the one sent before it, as
	// on a single link.
	JitterReorders bool

	// Reorder holds a datagram back with this probability until
	// ReorderGap later datagrams have passed it or ReorderHold has
	// elapsed, whichever comes first, so held datagrams are always
	// released (netem's "reorder ... gap", with a time limit).
	Reorder     float64
	ReorderGap  int           // default 3
	ReorderHold time.Duration // default 10ms

	// Dup sends a datagram twice with this probability.
	Dup float64
	// Corrupt flips one random bit of a datagram with this probability.
	Corrupt float64

	// Rate limits the link to this many bits per second (0: no limit);
	// datagrams leave one after another, each taking size*8/Rate. At most
	// Queue datagrams wait for the link (default 1000); more are
	// tail-dropped and counted.
	Rate  float64
	Queue int

	// Limit bounds the datagrams held at once for delay, reordering and
	// rate, and LimitBytes their bytes (defaults 10000 and 32 MiB); a
	// datagram over either limit is dropped and counted.
	Limit      int
	LimitBytes int

	// Script applies exact faults to numbered datagrams (see ParseScript).
	Script *Script
}

// Defaults for Config.
const (
	DefaultReorderGap  = 3
	DefaultReorderHold = 10 * time.Millisecond
	DefaultQueue       = 1000
	DefaultLimit       = 10000
	DefaultLimitBytes  = 32 << 20
)

// WithDefaults returns c with zero fields that have defaults filled in.
func (c Config) WithDefaults() Config {
	if c.ReorderGap <= 0 {
		c.ReorderGap = DefaultReorderGap
	}
	if c.ReorderHold <= 0 {
		c.ReorderHold = DefaultReorderHold
	}
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	if c.Limit <= 0 {
		c.Limit = DefaultLimit
	}
	if c.LimitBytes <= 0 {
		c.LimitBytes = DefaultLimitBytes
	}
	return c
}

// ConfigError names the field of a Config that is out of range.
type ConfigError struct {
	Field string
	Msg   string
}

// Error implements error.
func (e *ConfigError) Error() string { return "netem: " + e.Field + " " + e.Msg }

// ErrConfig is matched by every *ConfigError (errors.Is).
var ErrConfig = errors.New("netem: invalid configuration")

// Is reports target == ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Validate checks every field and returns a *ConfigError naming the first
// that is out of range.
func (c Config) Validate() error {
	probs := []struct {
		name string
		p    float64
	}{{"Loss", c.Loss}, {"Reorder", c.Reorder}, {"Dup", c.Dup}, {"Corrupt", c.Corrupt}}
	if c.GE != nil {
		probs = append(probs, []struct {
			name string
			p    float64
		}{{"GE.P", c.GE.P}, {"GE.R", c.GE.R}, {"GE.LossGood", c.GE.LossGood}, {"GE.LossBad", c.GE.LossBad}}...)
	}
	for _, p := range probs {
		if !(p.p >= 0 && p.p <= 1) {
			return &ConfigError{p.name, fmt.Sprintf("must be a probability between 0 and 1, got %v", p.p)}
		}
	}
	switch {
	case c.Delay < 0:
		return &ConfigError{"Delay", fmt.Sprintf("must not be negative, got %v", c.Delay)}
	case c.Jitter < 0:
		return &ConfigError{"Jitter", fmt.Sprintf("must not be negative, got %v", c.Jitter)}
	case c.JitterDist > Normal:
		return &ConfigError{"JitterDist", "must be Uniform or Normal"}
	case c.ReorderGap < 0:
		return &ConfigError{"ReorderGap", fmt.Sprintf("must not be negative, got %d", c.ReorderGap)}
	case c.ReorderHold < 0:
		return &ConfigError{"ReorderHold", fmt.Sprintf("must not be negative, got %v", c.ReorderHold)}
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return &ConfigError{"Rate", fmt.Sprintf("must be a positive number of bits per second, got %v", c.Rate)}
	case c.Queue < 0:
		return &ConfigError{"Queue", fmt.Sprintf("must not be negative, got %d", c.Queue)}
	case c.Limit < 0:
		return &ConfigError{"Limit", fmt.Sprintf("must not be negative, got %d", c.Limit)}
	case c.LimitBytes < 0:
		return &ConfigError{"LimitBytes", fmt.Sprintf("must not be negative, got %d", c.LimitBytes)}
	}
	return nil
}

// IsZero reports whether c impairs nothing.
func (c Config) IsZero() bool {
	return c.Loss == 0 && c.GE == nil && c.Delay == 0 && c.Jitter == 0 && c.Reorder == 0 &&
		c.Dup == 0 && c.Corrupt == 0 && c.Rate == 0 && (c.Script == nil || c.Script.empty())
}

// timed reports whether some datagrams are held for a while (so a
// scheduler is needed), rather than each being forwarded or dropped at once.
func (c Config) timed() bool {
	return c.Delay > 0 || c.Jitter > 0 || c.Reorder > 0 || c.Rate > 0 || (c.Script != nil && c.Script.timed())
}
