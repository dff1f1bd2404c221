package netem

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

const trials = 100_000

// within checks a measured proportion against p with a tolerance of five
// binomial standard deviations: the seeds are fixed, so the result never
// changes, and a correct model lands well inside it.
func within(t *testing.T, what string, got, p float64, n int) {
	t.Helper()
	tol := 5 * math.Sqrt(p*(1-p)/float64(n))
	if math.Abs(got-p) > tol {
		t.Errorf("%s: measured %.5f over %d datagrams, want %.5f ± %.5f", what, got, n, p, tol)
	}
}

func TestModelRates(t *testing.T) {
	cfg := Config{Loss: 0.1, Dup: 0.05, Corrupt: 0.02, Reorder: 0.07}
	m := NewModel(cfg, 42, 0)
	var lost, dup, corrupt, hold, delivered int
	for range trials {
		d := m.Decide(100)
		if d.Drop {
			lost++
			if d.Cause != CauseLoss {
				t.Fatalf("drop cause %v, want loss", d.Cause)
			}
			continue
		}
		delivered++
		dup += btoi(d.Dup)
		hold += btoi(d.Hold)
		if d.Corrupt {
			corrupt++
			if d.Bit < 0 || d.Bit >= 800 {
				t.Fatalf("corrupt bit %d outside a 100-byte datagram", d.Bit)
			}
		}
	}
	within(t, "loss", float64(lost)/trials, 0.1, trials)
	within(t, "dup", float64(dup)/float64(delivered), 0.05, delivered)
	within(t, "corrupt", float64(corrupt)/float64(delivered), 0.02, delivered)
	within(t, "reorder", float64(hold)/float64(delivered), 0.07, delivered)
}

func TestGilbertElliottBursts(t *testing.T) {
	for _, tc := range []struct{ loss, burst float64 }{{0.1, 4}, {0.01, 2}, {0.3, 10}} {
		ge, err := Burst(tc.loss, tc.burst)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ge.MeanLoss()-tc.loss) > 1e-12 {
			t.Errorf("Burst(%v, %v).MeanLoss() = %v", tc.loss, tc.burst, ge.MeanLoss())
		}
		m := NewModel(Config{GE: ge}, 7, 0)
		const n = 400_000
		lost, bursts, run := 0, 0, 0
		for range n {
			d := m.Decide(64)
			if d.Drop {
				if d.Cause != CauseBurst {
					t.Fatalf("cause %v, want burst", d.Cause)
				}
				lost++
				run++
				continue
			}
			if run > 0 {
				bursts++
				run = 0
			}
		}
		gotLoss := float64(lost) / n
		meanBurst := float64(lost) / float64(bursts)
		// Losses come in bursts, so the plain binomial bound is too tight:
		// allow 10% of the target for both figures.
		if math.Abs(gotLoss-tc.loss) > 0.1*tc.loss {
			t.Errorf("GE(loss %v, burst %v): measured loss %.4f", tc.loss, tc.burst, gotLoss)
		}
		if math.Abs(meanBurst-tc.burst) > 0.1*tc.burst {
			t.Errorf("GE(loss %v, burst %v): measured mean burst %.3f", tc.loss, tc.burst, meanBurst)
		}
	}
	if _, err := Burst(0.5, 0.5); err == nil {
		t.Error("Burst(0.5, 0.5) accepted a burst shorter than one datagram")
	}
	if _, err := Burst(0.9, 1); err == nil {
		t.Error("Burst(0.9, 1) accepted an impossible model (P > 1)")
	}
}

func TestJitter(t *testing.T) {
	const delay, jitter = 20 * time.Millisecond, 5 * time.Millisecond
	for _, dist := range []Dist{Uniform, Normal} {
		m := NewModel(Config{Delay: delay, Jitter: jitter, JitterDist: dist}, 3, 0)
		var sum, sum2 float64
		for range trials {
			d := m.Decide(10)
			x := float64(d.Delay)
			if dist == Uniform && (d.Delay < delay-jitter || d.Delay > delay+jitter) {
				t.Fatalf("uniform delay %v outside %v±%v", d.Delay, delay, jitter)
			}
			if d.Delay < 0 {
				t.Fatalf("negative delay %v", d.Delay)
			}
			sum += x
			sum2 += x * x
		}
		mean := sum / trials
		sd := math.Sqrt(sum2/trials - mean*mean)
		wantSD := float64(jitter)
		if dist == Uniform {
			wantSD = float64(jitter) / math.Sqrt(3) // uniform on ±J
		}
		if math.Abs(mean-float64(delay)) > 0.01*float64(delay) || math.Abs(sd-wantSD) > 0.02*wantSD {
			t.Errorf("%v jitter: mean %v sd %v, want %v and %v", dist, time.Duration(mean), time.Duration(sd), delay, time.Duration(wantSD))
		}
	}
}

func TestModelDeterminism(t *testing.T) {
	cfg := Config{Loss: 0.2, Dup: 0.1, Corrupt: 0.1, Reorder: 0.1, Delay: time.Millisecond, Jitter: time.Millisecond}
	run := func(seed, stream uint64) []Decision {
		m := NewModel(cfg, seed, stream)
		out := make([]Decision, 1000)
		for i := range out {
			out[i] = m.Decide(64 + i%100)
		}
		return out
	}
	a, b := run(1, 0), run(1, 0)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, decision %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
	for _, other := range [][]Decision{run(2, 0), run(1, 1)} {
		same := 0
		for i := range a {
			if a[i] == other[i] {
				same++
			}
		}
		if same > 900 {
			t.Errorf("another seed or stream gave %d of 1000 identical decisions", same)
		}
	}
}

// Each datagram draws the same values whatever is decided, so a loss
// setting does not shift the jitter drawn for later datagrams.
func TestFixedDrawsPerDatagram(t *testing.T) {
	a := NewModel(Config{Jitter: time.Millisecond, Delay: 5 * time.Millisecond}, 9, 0)
	b := NewModel(Config{Jitter: time.Millisecond, Delay: 5 * time.Millisecond, Loss: 0.5, Dup: 0.3}, 9, 0)
	for i := range 1000 {
		da, db := a.Decide(64), b.Decide(64)
		if !db.Drop && da.Delay != db.Delay {
			t.Fatalf("datagram %d: delay %v without loss, %v with", i, da.Delay, db.Delay)
		}
	}
}

func TestScriptDecisions(t *testing.T) {
	s, err := ParseScript("drop 5,17; dup 7; swap 9; corrupt 3; delay 4:20ms; drop 20-22")
	if err != nil {
		t.Fatal(err)
	}
	m := NewModel(Config{Script: s}, 1, 0)
	for i := uint64(1); i <= 25; i++ {
		d := m.Decide(10)
		want := Decision{Index: i, Size: 10}
		switch i {
		case 5, 17, 20, 21, 22:
			want.Drop, want.Cause = true, CauseScript
		case 7:
			want.Dup = true
		case 9:
			want.Swap = true
		case 3:
			want.Corrupt, want.Bit = true, d.Bit
		case 4:
			want.Delay = 20 * time.Millisecond
		}
		if d != want {
			t.Errorf("datagram %d: %+v, want %+v", i, d, want)
		}
	}
}

func TestParseScriptErrors(t *testing.T) {
	for in, want := range map[string]string{
		"explode 3":        `unknown verb "explode"`,
		"drop":             "needs a verb and datagram numbers",
		"drop 0":           "numbered from 1",
		"drop x":           "numbered from 1",
		"drop 5-3":         "from a smaller number to a larger one",
		"delay 4":          "delay needs N:DURATION",
		"delay 4:soon":     "not a duration",
		"drop 1-999999999": "at most",
	} {
		_, err := ParseScript(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseScript(%q) = %v, want an error containing %q", in, err, want)
		}
	}
	if s, err := ParseScript(" drop 1 ; ; dup 2 "); err != nil || s.String() != "drop 1 ; ; dup 2" {
		t.Errorf("ParseScript with blanks = %v, %v", s, err)
	}
}

func TestValidate(t *testing.T) {
	bad := map[string]Config{
		"Loss":        {Loss: 1.5},
		"Dup":         {Dup: -0.1},
		"Corrupt":     {Corrupt: math.NaN()},
		"Reorder":     {Reorder: 2},
		"Delay":       {Delay: -time.Second},
		"Jitter":      {Jitter: -1},
		"Rate":        {Rate: -8},
		"Queue":       {Queue: -1},
		"GE.P":        {GE: &GilbertElliott{P: 1.2}},
		"ReorderHold": {ReorderHold: -1},
	}
	for field, c := range bad {
		err := c.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != field || !errors.Is(err, ErrConfig) {
			t.Errorf("Validate(%s out of range) = %v, want a ConfigError naming %s", field, err, field)
		}
	}
	if err := (Config{Loss: 1, Dup: 0, Delay: time.Second}).Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}

func FuzzParseScript(f *testing.F) {
	for _, s := range []string{"drop 5,17; dup 7; swap 9", "delay 4:20ms", "corrupt 1-3", "", ";;", "drop 0", "x 1", "drop 1-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := ParseScript(src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "netem: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		// a parsed script parses again to the same faults
		s2, err := ParseScript(s.String())
		if err != nil || len(s2.drop) != len(s.drop) || len(s2.dup) != len(s.dup) || len(s2.swap) != len(s.swap) ||
			len(s2.corrupt) != len(s.corrupt) || len(s2.delay) != len(s.delay) {
			t.Fatalf("re-parsing %q: %v", s.String(), err)
		}
		m := NewModel(Config{Script: s}, 1, 0)
		for range 10 {
			m.Decide(8)
		}
	})
}
