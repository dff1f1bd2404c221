package room

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkHubRelay measures the hub's work for one message relayed to
// the other members of a room, acknowledgements included (no I/O: the
// packets are encoded and handed to a sink).
func BenchmarkHubRelay(b *testing.B) {
	for _, n := range []int{2, 10, 100} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			var out []sent
			cfg := ServerConfig{Rate: 65535, Burst: 1 << 30}.withDefaults()
			h := newHub(cfg, capture(b, &out), func(ServerEvent) {})
			addrs := make([]netip.AddrPort, n)
			sessions := make([]uint64, n)
			for i := range n {
				addrs[i] = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(2000+i))
				sessions[i] = hubMember(b, h, &out, addrs[i], fmt.Sprintf("m%d", i), t0)
			}
			sink := func([]byte, netip.AddrPort, route) {}
			h.out = sink
			// Every member has its member list and the others' joins to
			// acknowledge first.
			acked := make([]uint64, n)
			ack := func(now time.Time) {
				for i := 1; i < n; i++ {
					acked[i] = h.byAddr[addrs[i]].out.next() - 1
					h.handle((&Packet{Type: TypeAck, Session: sessions[i], Seq: acked[i]}).Append(nil), addrs[i], route{}, now)
				}
			}
			ack(t0)
			text := []byte("a line of chat, about this long")
			now := t0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				now = now.Add(time.Microsecond)
				p := Packet{Type: TypeEvent, Session: sessions[0], Seq: uint64(i + 1), Kind: KindMessage, Text: text}
				h.handle(p.Append(nil), addrs[0], route{}, now)
				ack(now)
			}
			b.StopTimer()
			if h.stats.Messages != uint64(b.N) || h.stats.Missed != 0 {
				b.Fatalf("%d messages accepted, %d missed; want %d and 0", h.stats.Messages, h.stats.Missed, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(n-1)), "ns/delivery")
		})
	}
}
