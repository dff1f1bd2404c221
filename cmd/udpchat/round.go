package main

import "math"

// round3 rounds x to three decimals for JSON: a millisecond figure to the
// microsecond, a percentage to a thousandth of a percent. Without it,
// averages and square roots print float noise (0.4348240599999999).
func round3(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	return math.Round(x*1000) / 1000
}
