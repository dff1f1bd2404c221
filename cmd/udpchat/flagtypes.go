package main

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// Flag value types with the units of DESIGN.md. Each implements cli.Generic;
// its Set error becomes `invalid value "x" for flag --name: <error>`.

// durationValue is a non-negative duration in Go syntax ("500ms", "2s"),
// or a number of seconds without a unit ("0.2", "5"), as ping and nc take
// them.
type durationValue struct{ d time.Duration }

func (v *durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	v.d = d
	return nil
}

// maxDuration bounds every duration flag: nothing in udpchat needs more
// than a year, and a float of seconds must not overflow time.Duration.
const maxDuration = 365 * 24 * time.Hour

func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var d time.Duration
	if f, err := strconv.ParseFloat(t, 64); err == nil && !strings.ContainsAny(t, "xXpP") {
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return 0, errDurationSyntax
		case f < 0:
			return 0, errors.New("must not be negative")
		case f > maxDuration.Seconds():
			return 0, errDurationMax
		}
		d = time.Duration(math.Round(f * 1e9))
	} else {
		d, err = time.ParseDuration(t)
		if err != nil {
			return 0, errDurationSyntax
		}
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	if d > maxDuration {
		return 0, errDurationMax
	}
	return d, nil
}

var (
	errDurationSyntax = errors.New("want a duration such as 500ms, 2s, 1m30s or 0.2 (seconds)")
	errDurationMax    = errors.New("must be at most a year (8760h)")
)

func (v *durationValue) String() string {
	if v == nil {
		return ""
	}
	return v.d.String()
}

// sizeValue is a byte count: "1400", "64k", "8M" (k = 1024, M = 1024*1024,
// G = 1024^3; a trailing "B" or "iB" is accepted).
type sizeValue struct {
	n   int64
	set bool
}

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	v.n, v.set = n, true
	return nil
}

func (v *sizeValue) String() string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(v.n, 10)
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "i")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("want a size in bytes such as 1400, 64k or 8M")
	}
	return n * mult, nil
}

// Accessors for the flag values in a command's context.

func durationFlag(c *cli.Context, name string) time.Duration {
	if v, ok := c.Generic(name).(*durationValue); ok {
		return v.d
	}
	return 0
}

func sizeFlag(c *cli.Context, name string) (int64, bool) {
	if v, ok := c.Generic(name).(*sizeValue); ok {
		return v.n, v.set
	}
	return 0, false
}
