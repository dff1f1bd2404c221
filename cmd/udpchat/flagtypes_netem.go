package main

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// Flag value types for impairments: probabilities and rates.

// probValue is a probability: "0.1" or "10%".
type probValue struct{ p float64 }

func (v *probValue) Set(s string) error {
	p, err := parseProb(s)
	if err != nil {
		return err
	}
	v.p = p
	return nil
}

func (v *probValue) String() string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(v.p, 'g', -1, 64)
}

func parseProb(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	t = strings.TrimSuffix(t, "%")
	p, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
		return 0, errors.New("want a probability such as 0.1 or 10%")
	}
	if pct {
		p /= 100
	}
	if p < 0 || p > 1 {
		return 0, errors.New("a probability must lie between 0 and 1 (0% and 100%)")
	}
	return p, nil
}

// rateValue is a bit rate in tc's units: "8mbit", "100kbit", "1gbit",
// "500kbps" (bytes per second), iperf3's ("100M", "1G", "10K": bits per
// second, powers of 1000), or plain bits per second.
type rateValue struct{ bps float64 }

func (v *rateValue) Set(s string) error {
	r, err := parseRate(s)
	if err != nil {
		return err
	}
	v.bps = r
	return nil
}

func (v *rateValue) String() string {
	if v == nil || v.bps == 0 {
		return ""
	}
	return formatRate(v.bps)
}

var rateUnits = []struct {
	suffix string
	mult   float64
}{
	// longest suffixes first
	{"gibit", 1 << 30}, {"mibit", 1 << 20}, {"kibit", 1 << 10},
	{"gibps", 8 << 30}, {"mibps", 8 << 20}, {"kibps", 8 << 10},
	{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"tbit", 1e12},
	{"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"tbps", 8e12},
	{"bit", 1}, {"bps", 8},
	// iperf3's -b: a bare K, M, G or T is bits per second, in powers of 1000
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
}

func parseRate(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range rateUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	r, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
		return 0, errors.New("want a rate such as 8mbit, 100kbit, 1gbit, iperf3's 100M or 1G, or a number of bits per second")
	}
	return r * mult, nil
}

func formatRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return strconv.FormatFloat(bps/1e9, 'g', 4, 64) + "gbit"
	case bps >= 1e6:
		return strconv.FormatFloat(bps/1e6, 'g', 4, 64) + "mbit"
	case bps >= 1e3:
		return strconv.FormatFloat(bps/1e3, 'g', 4, 64) + "kbit"
	}
	return strconv.FormatFloat(bps, 'g', 4, 64) + "bit"
}

func probFlag(c *cli.Context, name string) float64 {
	if v, ok := c.Generic(name).(*probValue); ok {
		return v.p
	}
	return 0
}

func rateFlag(c *cli.Context, name string) float64 {
	if v, ok := c.Generic(name).(*rateValue); ok {
		return v.bps
	}
	return 0
}
