package pmtu

import (
	"encoding/binary"
	"testing"
)

// FuzzSearch drives a Search with arbitrary outcomes (echoes, losses, ICMP
// messages with any MTU, late echoes of any size): it must never panic,
// always end within a bounded number of probes, and never report a path
// MTU outside its limits or one that no echo confirmed.
func FuzzSearch(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 0, 5, 0xff, 3, 1}, uint16(1500), false)
	f.Add([]byte{2, 2, 2, 2, 2, 2}, uint16(9000), true)
	f.Add([]byte{}, uint16(0), false)
	f.Fuzz(func(t *testing.T, script []byte, max uint16, v6 bool) {
		s, err := NewSearch(Config{Max: int(max), IPv6: v6})
		if err != nil {
			return
		}
		confirmed := map[int]bool{}
		for i := 0; ; i++ {
			size, ok := s.Next()
			if !ok {
				break
			}
			if i > 2000 {
				t.Fatalf("no end after 2000 probes (script %v)", script)
			}
			if size < s.cfg.Min || size > s.cfg.Max {
				t.Fatalf("probe of %d bytes outside [%d, %d]", size, s.cfg.Min, s.cfg.Max)
			}
			op := byte(1) // lost, once the script runs out
			var arg uint16
			if len(script) >= 3 {
				op, arg = script[0]%4, binary.BigEndian.Uint16(script[1:])
				script = script[3:]
			}
			switch op {
			case 0:
				s.Acked(size)
				confirmed[size] = true
			case 1:
				s.Lost(size)
			case 2:
				s.TooBig(size, int(arg))
			case 3: // a late echo of some other size we sent before
				if int(arg) >= s.cfg.Min && int(arg) <= s.cfg.Max && confirmed[int(arg)] {
					s.Acked(int(arg))
				}
				s.Lost(size)
			}
		}
		r := s.Result()
		if r.PathMTU != 0 && !confirmed[r.PathMTU] {
			t.Fatalf("path MTU %d was never echoed", r.PathMTU)
		}
		if r.PathMTU != 0 && r.MaxPayload != r.PathMTU-s.cfg.Overhead() {
			t.Fatalf("payload %d for path MTU %d", r.MaxPayload, r.PathMTU)
		}
	})
}
