package seq_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

// A receiver's view of datagrams 0 1 3 2 3: a gap, a late arrival and a
// duplicate.
func ExampleTracker() {
	tr := seq.NewTracker(seq.Config{})
	from := netip.MustParseAddrPort("127.0.0.1:5000")
	now := time.Unix(1000, 0)
	for _, q := range []uint64{0, 1, 3, 2, 3} {
		b := seq.Header{Seq: q, Sent: now.UnixNano()}.Append(nil)
		ev := tr.Observe(from, append(b, "hello"...), now)
		fmt.Printf("#%d %v %q\n", q, ev.Kind, ev.Payload)
	}
	s, _ := tr.Lookup(from)
	fmt.Printf("received %d, unique %d, expected %d, lost %d, duplicates %d, reordered %d\n",
		s.Received, s.Unique, s.Expected, s.Lost, s.Duplicates, s.Reordered)
	// Output:
	// #0 in-order "hello"
	// #1 in-order "hello"
	// #3 gap "hello"
	// #2 late "hello"
	// #3 duplicate "hello"
	// received 5, unique 4, expected 4, lost 0, duplicates 1, reordered 1
}

func ExampleDecode() {
	b := seq.Header{Seq: 7, Sent: 1}.Append(nil)
	b = append(b, "payload"...)
	h, payload, err := seq.Decode(b)
	fmt.Println(h.Seq, string(payload), err)
	_, _, err = seq.Decode([]byte("dg"))
	fmt.Println(err)
	// Output:
	// 7 payload <nil>
	// seq: short header: 2 of 20 bytes
}
