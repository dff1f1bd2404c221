package netem

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Script is a list of exact faults on numbered datagrams, for demos and
// tests. Datagrams are numbered from 1 in the order they enter the link.
//
// The text form is clauses separated by ";", each a verb and a list of
// datagram numbers or ranges separated by ",":
//
//	drop 5,17        drop the 5th and the 17th
//	drop 20-24       drop the 20th to the 24th
//	dup 7            send the 7th twice
//	corrupt 3        flip one bit of the 3rd
//	swap 9           deliver the 10th before the 9th (the 9th is held until
//	                 the next datagram has passed it, or ReorderHold)
//	delay 4:20ms     hold the 4th for 20ms more than the others
//
// Script faults come on top of the random ones: a datagram the script
// leaves alone may still be lost at random.
type Script struct {
	src                      string
	drop, dup, corrupt, swap map[uint64]bool
	delay                    map[uint64]time.Duration
}

// ScriptVerbs are the verbs a Script understands.
var ScriptVerbs = []string{"drop", "dup", "corrupt", "swap", "delay"}

// ParseScript parses the text form of a Script.
func ParseScript(src string) (*Script, error) {
	s := &Script{src: strings.TrimSpace(src), drop: map[uint64]bool{}, dup: map[uint64]bool{},
		corrupt: map[uint64]bool{}, swap: map[uint64]bool{}, delay: map[uint64]time.Duration{}}
	for _, clause := range strings.Split(src, ";") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		verb, list, ok := strings.Cut(clause, " ")
		list = strings.ReplaceAll(strings.TrimSpace(list), " ", "")
		if !ok || list == "" {
			return nil, fmt.Errorf("netem: script clause %q needs a verb and datagram numbers, as in \"drop 5,17\"", clause)
		}
		known := false
		for _, v := range ScriptVerbs {
			known = known || v == verb
		}
		if !known {
			return nil, fmt.Errorf("netem: script: unknown verb %q in %q (the verbs are %s)", verb, clause, strings.Join(ScriptVerbs, ", "))
		}
		for _, item := range strings.Split(list, ",") {
			var d time.Duration
			if verb == "delay" {
				num, dur, ok := strings.Cut(item, ":")
				if !ok {
					return nil, fmt.Errorf("netem: script: %q: delay needs N:DURATION, as in \"delay 4:20ms\"", item)
				}
				var err error
				if d, err = time.ParseDuration(dur); err != nil || d < 0 {
					return nil, fmt.Errorf("netem: script: %q: %q is not a duration such as 20ms", item, dur)
				}
				item = num
			}
			lo, hi, err := parseRange(item)
			if err != nil {
				return nil, fmt.Errorf("netem: script: %q in %q: %v", item, clause, err)
			}
			for n := lo; n <= hi; n++ {
				switch verb {
				case "drop":
					s.drop[n] = true
				case "dup":
					s.dup[n] = true
				case "corrupt":
					s.corrupt[n] = true
				case "swap":
					s.swap[n] = true
				case "delay":
					s.delay[n] = d
				}
			}
		}
	}
	return s, nil
}

// maxScriptRange bounds one range, so a script stays small.
const maxScriptRange = 1 << 20

func parseRange(item string) (lo, hi uint64, err error) {
	a, b, isRange := strings.Cut(item, "-")
	lo, err = strconv.ParseUint(a, 10, 64)
	if err != nil || lo == 0 {
		return 0, 0, fmt.Errorf("datagrams are numbered from 1")
	}
	hi = lo
	if isRange {
		hi, err = strconv.ParseUint(b, 10, 64)
		if err != nil || hi < lo {
			return 0, 0, fmt.Errorf("a range goes from a smaller number to a larger one, as in 20-24")
		}
		if hi-lo >= maxScriptRange {
			return 0, 0, fmt.Errorf("a range may cover at most %d datagrams", maxScriptRange)
		}
	}
	return lo, hi, nil
}

// String returns the script's text.
func (s *Script) String() string {
	if s == nil {
		return ""
	}
	return s.src
}

// Swaps reports whether the script swaps a datagram: one that
// Config.ReorderHold bounds, as it bounds random reordering.
func (s *Script) Swaps() bool { return s != nil && len(s.swap) > 0 }

func (s *Script) empty() bool {
	return s == nil || len(s.drop)+len(s.dup)+len(s.corrupt)+len(s.swap)+len(s.delay) == 0
}

func (s *Script) timed() bool { return s != nil && len(s.swap)+len(s.delay) > 0 }
