//go:build race

package main

// raceEnabled: this test binary (and the udpchat it runs as a child) is
// built with the race detector, whose shadow memory makes RSS figures
// meaningless.
const raceEnabled = true
