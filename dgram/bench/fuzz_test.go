package bench

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

// FuzzServer feeds a Server sequences of datagrams from four addresses,
// without sockets in between: records of [sender][flags][length][bytes].
// Flag 1 puts a control header before the bytes; flag 2 replaces the
// text TOKEN with the last token the server gave that sender (so the
// fuzzer can prove an address, as a real client does). Whatever comes:
// no panic; an address that never proved itself receives at most
// Amplification times the bytes it sent, and only retries; only a test's
// client gets its reports, probes and results.
func FuzzServer(f *testing.F) {
	rec := func(who, flags byte, body string) []byte {
		return append([]byte{who, flags, byte(len(body))}, body...)
	}
	hello := `{"op":"hello","mode":"throughput","interval_s":0.1,"token":"TOKEN","test":7}`
	f.Add(bytes.Join([][]byte{rec(0, 1, `{"op":"hello"}`), rec(0, 3, hello), rec(1, 1, `{"op":"stop"}`), rec(0, 1, `{"op":"stop"}`)}, nil))
	f.Add(bytes.Join([][]byte{rec(1, 1, `{"op":"hello","mode":"latency"}`), rec(1, 3, `{"op":"hello","mode":"latency","token":"TOKEN"}`),
		rec(1, 0, "dg\x01\x08\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01"), rec(2, 0, "dg\x01\x08\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01")}, nil))
	f.Add(bytes.Join([][]byte{rec(2, 1, `{"op":"hello","interval_s":1e-9,"busy":true}`), rec(3, 0, "dg\x01\x00junk")}, nil))
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	defer sc.Close()
	addrs := [4]netip.AddrPort{}
	for i := range addrs {
		addrs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(10 + i)}), uint16(5000+i))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s := NewServerConfig(sc, ServerConfig{Silence: 50 * time.Millisecond, MaxDuration: time.Second})
		now := time.Unix(1_700_000_000, 0)
		var sentTo, recvFrom [4]int
		var proved [4]bool
		var token [4]string
		who := 0
		reply := func(b []byte, to, _ netip.AddrPort, _ int) {
			i := -1
			for k, a := range addrs {
				if a == to {
					i = k
				}
			}
			if i < 0 {
				t.Fatalf("a reply to %v, which never sent anything", to)
			}
			sentTo[i] += len(b)
			h, body, err := seq.Decode(b)
			if err != nil {
				t.Fatalf("the server sent a malformed datagram %q", b)
			}
			op := "probe"
			if h.Type == TypeControl {
				var c Control
				if json.Unmarshal(body, &c) != nil {
					t.Fatalf("bad control %q", body)
				}
				op = c.Op
				if op == "retry" {
					token[i] = c.Token
				}
			}
			if !proved[i] && op != "retry" {
				t.Fatalf("%q to %v, which never proved its address", op, to)
			}
			switch op {
			case "ready", "interval", "probe":
				if s.cur == nil || s.cur.client != to {
					t.Fatalf("%q to %v, not the test's client", op, to)
				}
			case "result":
				if s.last == nil || s.last.client != to {
					t.Fatalf("a result to %v, whose test is not the last", to)
				}
			}
		}
		for len(in) >= 3 {
			who = int(in[0] % 4)
			flags, n := in[1], int(in[2])
			in = in[3:]
			n = min(n, len(in))
			body := in[:n]
			in = in[n:]
			var d []byte
			if flags&1 != 0 {
				d = seq.Header{Type: TypeControl}.Append(nil)
			}
			if flags&2 != 0 && token[who] != "" && bytes.Contains(body, []byte("TOKEN")) {
				body = bytes.ReplaceAll(body, []byte("TOKEN"), []byte(token[who]))
				proved[who] = true
			}
			d = append(d, body...)
			recvFrom[who] += len(d)
			now = now.Add(time.Duration(who) * 20 * time.Millisecond)
			s.datagram(d, addrs[who], netip.AddrPort{}, 0, now, reply)
			s.tick(now, reply)
			for i := range addrs {
				if !proved[i] && sentTo[i] > Amplification*recvFrom[i] {
					t.Fatalf("%v received %d bytes for %d sent, unproved", addrs[i], sentTo[i], recvFrom[i])
				}
			}
		}
	})
}
