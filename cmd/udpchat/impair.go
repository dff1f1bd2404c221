package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram/netem"
)

// The impairment flags of proxy and demo. Each also exists as --up-NAME
// and --down-NAME (hidden from the flag list, described in the command's
// help), which set one direction only and win over --NAME.

// scriptValue is a netem script ("drop 5,17; dup 7; swap 9").
type scriptValue struct{ s *netem.Script }

func (v *scriptValue) Set(s string) error {
	sc, err := netem.ParseScript(s)
	if err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "netem: "))
	}
	v.s = sc
	return nil
}

func (v *scriptValue) String() string {
	if v == nil || v.s == nil {
		return ""
	}
	return v.s.String()
}

// distValue is "uniform" or "normal".
type distValue struct{ d netem.Dist }

func (v *distValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "uniform":
		v.d = netem.Uniform
	case "normal":
		v.d = netem.Normal
	default:
		return fmt.Errorf("want uniform or normal")
	}
	return nil
}

func (v *distValue) String() string {
	if v == nil {
		return ""
	}
	return v.d.String()
}

// impairDef describes one impairment flag.
type impairDef struct {
	name, usage string
	value       func() cli.Generic // nil: a boolean flag
}

var impairDefs = []impairDef{
	{"loss", "drop each datagram with probability `P` (0.1 or 10%); with --burst, the average loss", func() cli.Generic { return &probValue{} }},
	{"burst", "lose datagrams in bursts of `LEN` on average (Gilbert-Elliott), at the --loss average", func() cli.Generic { return &sizeValue{} }},
	{"delay", "hold every datagram for `D` (e.g. 20ms)", func() cli.Generic { return &durationValue{} }},
	{"jitter", "vary the delay by up to `D` (uniform) or with standard deviation D (normal)", func() cli.Generic { return &durationValue{} }},
	{"jitter-dist", "jitter distribution `DIST`: uniform or normal", func() cli.Generic { return &distValue{} }},
	{"jitter-reorders", "let jitter reorder datagrams (by default a datagram never overtakes the one before)", nil},
	{"reorder", "hold a datagram back with probability `P` until --reorder-gap later ones passed it", func() cli.Generic { return &probValue{} }},
	{"reorder-gap", "a held datagram leaves after `N` later datagrams (default 3)", func() cli.Generic { return &sizeValue{} }},
	{"reorder-hold", "or after `D` at the latest (default 10ms)", func() cli.Generic { return &durationValue{} }},
	{"dup", "send a datagram twice with probability `P`", func() cli.Generic { return &probValue{} }},
	{"corrupt", "flip one random bit of a datagram with probability `P`", func() cli.Generic { return &probValue{} }},
	{"rate", "limit the link to `R` (8mbit, 100kbit, 1gbit, or bits per second)", func() cli.Generic { return &rateValue{} }},
	{"queue", "with --rate, queue at most `N` datagrams and tail-drop the rest (default 1000)", func() cli.Generic { return &sizeValue{} }},
	{"script", "exact faults on numbered datagrams, `S` = \"drop 5,17; dup 7; swap 9; corrupt 3; delay 4:20ms\"", func() cli.Generic { return &scriptValue{} }},
}

// impairFlags returns the impairment flags, with hidden per-direction
// variants when directions is set.
func impairFlags(directions bool) []cli.Flag {
	var fs []cli.Flag
	for _, prefix := range []string{"", "up-", "down-"} {
		if prefix != "" && !directions {
			break
		}
		for _, d := range impairDefs {
			name, usage, hidden := prefix+d.name, d.usage, prefix != ""
			if d.value == nil {
				fs = append(fs, &cli.BoolFlag{Name: name, Usage: usage, Hidden: hidden, Category: "impairment"})
				continue
			}
			fs = append(fs, &cli.GenericFlag{Name: name, Usage: usage, Value: d.value(), Hidden: hidden, Category: "impairment"})
		}
	}
	return fs
}

// seedFlags are the flags that make a run reproducible and explainable.
func seedFlags() []cli.Flag {
	return []cli.Flag{
		&cli.Uint64Flag{Name: "seed", Usage: "seed the impairment's PRNG with `N` (default: random, printed at start)"},
		&cli.StringFlag{Name: "log", Usage: "write every impairment decision to `FILE` as JSON lines"},
	}
}

// impairConfig reads one direction's configuration: prefix is "up-",
// "down-" or "" (both directions); a per-direction flag wins.
func impairConfig(c *cli.Context, prefix string) (netem.Config, error) {
	pick := func(name string) string {
		if prefix != "" && c.IsSet(prefix+name) {
			return prefix + name
		}
		return name
	}
	var cfg netem.Config
	cfg.Loss = probFlag(c, pick("loss"))
	if n, set := sizeFlag(c, pick("burst")); set {
		if cfg.Loss <= 0 || cfg.Loss >= 1 {
			return cfg, usagef(c, "--%s needs --%s between 0 and 1: the average loss of the bursts", pick("burst"), pick("loss"))
		}
		ge, err := netem.Burst(cfg.Loss, float64(n))
		if err != nil {
			return cfg, usagef(c, "--%s %d: %s", pick("burst"), n, strings.TrimPrefix(err.Error(), "netem: "))
		}
		cfg.GE, cfg.Loss = ge, 0
	}
	cfg.Delay = durationFlag(c, pick("delay"))
	cfg.Jitter = durationFlag(c, pick("jitter"))
	if v, ok := c.Generic(pick("jitter-dist")).(*distValue); ok {
		cfg.JitterDist = v.d
	}
	cfg.JitterReorders = c.Bool(pick("jitter-reorders"))
	cfg.Reorder = probFlag(c, pick("reorder"))
	if n, set := sizeFlag(c, pick("reorder-gap")); set {
		if n < 1 || n > 1<<20 {
			return cfg, usagef(c, "--%s must be from 1 to 1048576, got %d", pick("reorder-gap"), n)
		}
		cfg.ReorderGap = int(n)
	}
	cfg.ReorderHold = durationFlag(c, pick("reorder-hold"))
	if c.IsSet(pick("reorder-hold")) && cfg.ReorderHold == 0 {
		return cfg, usagef(c, "--%s must be more than 0", pick("reorder-hold"))
	}
	cfg.Dup = probFlag(c, pick("dup"))
	cfg.Corrupt = probFlag(c, pick("corrupt"))
	cfg.Rate = rateFlag(c, pick("rate"))
	if n, set := sizeFlag(c, pick("queue")); set {
		if n < 1 || n > 1<<24 {
			return cfg, usagef(c, "--%s must be from 1 to 16777216, got %d", pick("queue"), n)
		}
		cfg.Queue = int(n)
	}
	if v, ok := c.Generic(pick("script")).(*scriptValue); ok {
		cfg.Script = v.s
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef(c, "%v", err)
	}
	return cfg, nil
}

// pickSeed returns --seed, or a random seed and whether it was chosen here.
func pickSeed(c *cli.Context) (seed uint64, random bool) {
	if c.IsSet("seed") {
		return c.Uint64("seed"), false
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	// keep it short enough to type back
	return binary.BigEndian.Uint64(b[:]) % 1_000_000_000, true
}

// describeImpair says what a configuration does, in a few words.
func describeImpair(cfg netem.Config) string {
	var parts []string
	pct := func(p float64) string { return strings.TrimSuffix(fmt.Sprintf("%.4g", p*100), ".") + "%" }
	if cfg.GE != nil {
		parts = append(parts, fmt.Sprintf("burst loss %s in bursts of %.3g", pct(cfg.GE.MeanLoss()), 1/cfg.GE.R))
	} else if cfg.Loss > 0 {
		parts = append(parts, "loss "+pct(cfg.Loss))
	}
	if cfg.Delay > 0 || cfg.Jitter > 0 {
		s := "delay " + cfg.Delay.String()
		if cfg.Jitter > 0 {
			s += fmt.Sprintf(" ± %v (%v)", cfg.Jitter, cfg.JitterDist)
			if cfg.JitterReorders {
				s += ", may reorder"
			}
		}
		parts = append(parts, s)
	}
	if cfg.Reorder > 0 {
		gap, hold := cfg.ReorderGap, cfg.ReorderHold
		if gap == 0 {
			gap = netem.DefaultReorderGap
		}
		if hold == 0 {
			hold = netem.DefaultReorderHold
		}
		parts = append(parts, fmt.Sprintf("reorder %s (gap %d, hold %v)", pct(cfg.Reorder), gap, hold))
	}
	if cfg.Dup > 0 {
		parts = append(parts, "dup "+pct(cfg.Dup))
	}
	if cfg.Corrupt > 0 {
		parts = append(parts, "corrupt "+pct(cfg.Corrupt))
	}
	if cfg.Rate > 0 {
		q := cfg.Queue
		if q == 0 {
			q = netem.DefaultQueue
		}
		parts = append(parts, fmt.Sprintf("rate %s (queue %d)", formatRate(cfg.Rate), q))
	}
	if s := cfg.Script.String(); s != "" {
		parts = append(parts, fmt.Sprintf("script %q", s))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// linkJSON is a direction's counters, as {"type":"link"}.
type linkJSON struct {
	Type       string `json:"type"`
	Dir        string `json:"dir"`
	In         uint64 `json:"in"`
	Out        uint64 `json:"out"`
	Dropped    uint64 `json:"dropped"`
	DropLoss   uint64 `json:"drop_loss"`
	DropBurst  uint64 `json:"drop_burst"`
	DropScript uint64 `json:"drop_script"`
	DropQueue  uint64 `json:"drop_queue"`
	DropLimit  uint64 `json:"drop_limit"`
	DropHeld   uint64 `json:"drop_held"` // the proxy's --max-held, over all clients
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	Corrupted  uint64 `json:"corrupted"`
	Delayed    uint64 `json:"delayed"`
	OutErrors  uint64 `json:"out_errors"`
}

func newLinkJSON(dir string, s netem.Snapshot) linkJSON {
	return linkJSON{Type: "link", Dir: dir, In: s.In, Out: s.Out, Dropped: s.Dropped, DropLoss: s.DropLoss,
		DropBurst: s.DropBurst, DropScript: s.DropScript, DropQueue: s.DropQueue, DropLimit: s.DropLimit, DropHeld: s.DropHeld,
		Duplicated: s.Duplicated, Reordered: s.Reordered, Corrupted: s.Corrupted, Delayed: s.Delayed,
		OutErrors: s.OutErrors}
}

// linkTable prints directions' counters as a table.
func linkTable(t *table, rows []string, snaps []netem.Snapshot) {
	t.row("link", "in", "out", "dropped", "(loss/burst/script/queue/limit/held)", "dup", "reordered", "corrupted", "delayed")
	for i, s := range snaps {
		t.row(rows[i], s.In, s.Out, s.Dropped,
			fmt.Sprintf("(%d/%d/%d/%d/%d/%d)", s.DropLoss, s.DropBurst, s.DropScript, s.DropQueue, s.DropLimit, s.DropHeld),
			s.Duplicated, s.Reordered, s.Corrupted, s.Delayed)
	}
}

// durationOrForever returns a channel that fires after d, or never.
func durationOrForever(d time.Duration) (<-chan time.Time, func()) {
	if d <= 0 {
		return nil, func() {}
	}
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}
