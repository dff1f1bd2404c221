package pmtu

import (
	"math/rand/v2"
	"testing"
)

// path simulates a path for a Search: probes up to mtu pass; larger ones
// get an ICMP answer naming mtu when icmp is set, and are lost silently
// otherwise. drop(n) loses the n-th probe (from 1) even when it fits.
type path struct {
	mtu  int
	icmp bool
	drop func(n int) bool
}

func (p path) run(t *testing.T, cfg Config) (Result, []int) {
	t.Helper()
	s, err := NewSearch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for n := 1; ; n++ {
		size, ok := s.Next()
		if !ok {
			break
		}
		if n > 500 {
			t.Fatalf("path MTU %d: no end after 500 probes: %v", p.mtu, sizes)
		}
		sizes = append(sizes, size)
		switch {
		case size > p.mtu && p.icmp:
			s.TooBig(size, p.mtu)
		case size > p.mtu || p.drop != nil && p.drop(n):
			s.Lost(size)
		default:
			s.Acked(size)
		}
	}
	return s.Result(), sizes
}

func TestSearchFindsTheMTU(t *testing.T) {
	mtus := []int{68, 100, 296, 576, 1000, 1199, 1200, 1201, 1279, 1280, 1281, 1400, 1420, 1450, 1472, 1492, 1499, 1500}
	for _, icmp := range []bool{true, false} {
		for _, mtu := range mtus {
			res, sizes := path{mtu: mtu, icmp: icmp}.run(t, Config{Max: 1500})
			if res.PathMTU != mtu || res.MaxPayload != mtu-Overhead4 || !res.Complete {
				t.Errorf("icmp %v, path MTU %d: found %+v after %v", icmp, mtu, res, sizes)
			}
			if res.Probes != len(sizes) {
				t.Errorf("icmp %v, path MTU %d: Probes %d, sent %d", icmp, mtu, res.Probes, len(sizes))
			}
			wantBound := BoundLost
			switch {
			case mtu == 1500:
				wantBound = BoundRoute
			case icmp:
				wantBound = BoundICMP
			}
			if res.Bound != wantBound {
				t.Errorf("icmp %v, path MTU %d: bound %v, want %v", icmp, mtu, res.Bound, wantBound)
			}
		}
	}
}

// TestSearchProbeCounts pins the probes a typical search costs: with ICMP
// the message's MTU is probed next and its neighbour ends the search; a
// plateau is found by bisection and its neighbour ends it too.
func TestSearchProbeCounts(t *testing.T) {
	for _, tc := range []struct {
		mtu   int
		icmp  bool
		sizes []int
	}{
		{1500, true, []int{1200, 1500}},
		{1280, true, []int{1200, 1500, 1280, 1281}},
		{1280, false, []int{1200, 1500, 1500, 1500, 1380, 1380, 1380, 1280, 1281, 1281, 1281}},
		{1492, false, []int{1200, 1500, 1500, 1500, 1380, 1450, 1480, 1492, 1493, 1493, 1493}},
		// an MTU on no plateau: bisection, three tries for every size too big
		{1300, false, []int{1200, 1500, 1500, 1500, 1380, 1380, 1380, 1280, 1281, 1330, 1330, 1330, 1305, 1305, 1305, 1293, 1299, 1302, 1302, 1302, 1300, 1301, 1301, 1301}},
	} {
		_, sizes := path{mtu: tc.mtu, icmp: tc.icmp}.run(t, Config{Max: 1500})
		if !equal(sizes, tc.sizes) {
			t.Errorf("path MTU %d, icmp %v: probes %v, want %v", tc.mtu, tc.icmp, sizes, tc.sizes)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSearchIPv6 uses IPv6's sizes: the base is its minimum MTU.
func TestSearchIPv6(t *testing.T) {
	for _, mtu := range []int{1280, 1300, 1500} {
		res, sizes := path{mtu: mtu, icmp: true}.run(t, Config{IPv6: true, Max: 1500})
		if res.PathMTU != mtu || res.MaxPayload != mtu-Overhead6 || sizes[0] != Base6 {
			t.Errorf("IPv6 path MTU %d: %+v after %v", mtu, res, sizes)
		}
	}
	// the ICMP message names the base size: the byte above is checked next
	if _, sizes := (path{mtu: 1280, icmp: true}).run(t, Config{IPv6: true, Max: 1500}); !equal(sizes, []int{1280, 1500, 1281}) {
		t.Errorf("IPv6 path MTU 1280 with ICMP: probes %v, want [1280 1500 1281]", sizes)
	}
	// nothing echoed: base and minimum are the same size, tried Tries times
	res, sizes := path{mtu: 0}.run(t, Config{IPv6: true, Max: 1500})
	if res.PathMTU != 0 || len(sizes) != DefaultTries {
		t.Errorf("IPv6 without echoes: %+v after %v", res, sizes)
	}
}

// TestSearchNoEcho: no echo server gives up after trying Base and Min.
func TestSearchNoEcho(t *testing.T) {
	res, sizes := path{mtu: 0}.run(t, Config{Max: 1500})
	if res.PathMTU != 0 || res.Complete || !equal(sizes, []int{1200, 1200, 1200, 68, 68, 68}) {
		t.Errorf("no echo: %+v after %v", res, sizes)
	}
}

// TestSearchLoss: random loss of probes that fit does not change the
// result as long as no size loses Tries probes in a row; a late echo
// repairs a size wrongly taken as too big.
func TestSearchLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mtu := range []int{576, 1280, 1400, 1492} {
		for _, icmp := range []bool{true, false} {
			// lose every other probe that fits: never Tries in a row
			n := 0
			res, sizes := path{mtu: mtu, icmp: icmp, drop: func(int) bool { n++; return n%2 == 0 }}.run(t, Config{Max: 1500})
			if res.PathMTU != mtu || !res.Complete {
				t.Errorf("alternate loss, icmp %v, path MTU %d: %+v after %v", icmp, mtu, res, sizes)
			}
		}
	}
	// A size lost Tries times, then echoed late: the search takes it back.
	s, _ := NewSearch(Config{Max: 1500})
	for range 3 {
		s.Next() // 1200
		s.Lost(1200)
	}
	if size, _ := s.Next(); size != Min4 {
		t.Fatalf("after Base failed, next probe %d, want %d", size, Min4)
	}
	s.Acked(1200) // the late echo
	for {
		size, ok := s.Next()
		if !ok {
			break
		}
		if size <= 1300 && rng.IntN(4) != 0 {
			s.Acked(size)
		} else if size <= 1300 {
			s.Acked(size)
		} else {
			s.TooBig(size, 1300)
		}
	}
	if r := s.Result(); r.PathMTU != 1300 || !r.Complete {
		t.Errorf("after a late echo: %+v", r)
	}
}

// TestSearchIgnoresBadICMP: an ICMP message naming an MTU at or below a
// size already confirmed, or above the probe, does not mislead the search.
func TestSearchIgnoresBadICMP(t *testing.T) {
	for _, lie := range []int{0, 100, 1200, 1600, 9000} {
		s, _ := NewSearch(Config{Max: 1500})
		for {
			size, ok := s.Next()
			if !ok {
				break
			}
			if size <= 1400 {
				s.Acked(size)
			} else {
				s.TooBig(size, lie)
			}
		}
		if r := s.Result(); r.PathMTU != 1400 || !r.Complete || r.Bound != BoundICMP {
			t.Errorf("ICMP claiming %d on a 1400 path: %+v", lie, r)
		}
	}
}

func TestSearchConfig(t *testing.T) {
	if _, err := NewSearch(Config{Min: 20}); err == nil {
		t.Error("Min 20 (less than the headers) accepted")
	}
	s, _ := NewSearch(Config{Max: 1000})
	if c := s.Config(); c.Base != 1000 || c.Min != Min4 || c.Tries != DefaultTries {
		t.Errorf("Config{Max: 1000} with defaults = %+v", c)
	}
	s, _ = NewSearch(Config{Max: 100000, IPv6: true})
	if c := s.Config(); c.Max != Max6 {
		t.Errorf("Max above the IPv6 limit became %d, want %d", c.Max, Max6)
	}
	// loopback: the largest IPv4 packet passes at once
	res, sizes := path{mtu: Max4}.run(t, Config{})
	if res.PathMTU != Max4 || res.MaxPayload != 65507 || len(sizes) != 2 || res.Bound != BoundRoute {
		t.Errorf("loopback: %+v after %v", res, sizes)
	}
}
