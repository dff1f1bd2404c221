package seal

import (
	"fmt"
	"testing"
)

func BenchmarkSealOpen(b *testing.B) {
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			k := mustKey(b, secret)
			s := mustSealer(b, k, 1)
			o := k.NewOpener(Config{Start: t0})
			msg := make([]byte, size)
			buf := make([]byte, 0, size+Overhead)
			out := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				d, err := s.Seal(buf[:0], msg, t0)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, c := o.Open(out[:0], peerA, d); c != None {
					b.Fatal(c)
				}
			}
		})
	}
}
