package main

import (
	"regexp"
	"testing"
)

func TestTrimFloatNoise(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"jitter_ms":0.24430300000000002}`, `{"jitter_ms":0.244303}`},
		{`{"sent_pps":24305239.904960815,"loss_pct":0}`, `{"sent_pps":24305239.905,"loss_pct":0}`},
		{`{"a":-0.30000000000000004}`, `{"a":-0.3}`},
		{`{"a":1.2345678901234567e-7}`, `{"a":1.23456789012e-7}`},
		// left alone: integers of any size, short floats, numbers in strings
		{`{"seq":18446744073709551615,"d":1.000006916,"x":4.375e-7}`, `{"seq":18446744073709551615,"d":1.000006916,"x":4.375e-7}`},
		{`{"text":"0.24430300000000002 \"1.30000000000000004\"","n":[0.1,0.7000000000000001]}`, `{"text":"0.24430300000000002 \"1.30000000000000004\"","n":[0.1,0.7]}`},
	} {
		if got := string(trimFloatNoise([]byte(tc.in))); got != tc.want {
			t.Errorf("trimFloatNoise(%s)\n = %s\nwant %s", tc.in, got, tc.want)
		}
	}
	line := []byte(`{"type":"datagram","seq":7,"rtt_ms":0.125}` + "\n")
	if n := testing.AllocsPerRun(100, func() { trimFloatNoise(line) }); n != 0 {
		t.Errorf("a line without noise cost %v allocations", n)
	}
}

// TestJSONHasNoFloatNoise: no command's --json prints binary
// floating-point noise (17 significant digits where a measurement has a
// few), as ping's once did (0.4348240599999999).
func TestJSONHasNoFloatNoise(t *testing.T) {
	noise := regexp.MustCompile(`[0-9]\.[0-9]*[0-9]{13,}`)
	for _, args := range [][]string{
		{"demo", "loss", "--json"},
		{"demo", "reorder", "--json"},
		{"demo", "reliable", "--json"},
		{"bench", "--duration", "300ms", "--json"},
	} {
		code, out, errs := runCLI(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		if m := noise.FindString(out); m != "" {
			t.Errorf("%v prints float noise: %s", args, m)
		}
	}
}
