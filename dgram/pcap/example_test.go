package pcap_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram/pcap"
)

// A capture of one datagram and its echo, read back.
func Example() {
	var file bytes.Buffer
	w, err := pcap.NewWriter(&file, pcap.Options{Comment: "udpchat send --wait"})
	if err != nil {
		panic(err)
	}
	me, peer := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:9000")
	t0 := time.Unix(1700000000, 0)
	_ = w.WriteUDP(&pcap.Packet{Time: t0, Src: me, Dst: peer, Payload: []byte("hello"), Dir: pcap.Out})
	_ = w.WriteUDP(&pcap.Packet{Time: t0.Add(84 * time.Microsecond), Src: peer, Dst: me, Payload: []byte("hello"), Dir: pcap.In})
	if err := w.Close(); err != nil {
		panic(err)
	}
	recs, err := pcap.ReadAll(&file)
	if err != nil {
		panic(err)
	}
	for _, r := range recs {
		u, _ := pcap.ParseUDP(r.Data)
		fmt.Printf("%-3s %v -> %v %d bytes of IP, payload %q, checksum ok %v\n", r.Dir, u.Src, u.Dst, len(r.Data), u.Payload, u.ChecksumOK)
	}
	// Output:
	// out 127.0.0.1:40000 -> 127.0.0.1:9000 33 bytes of IP, payload "hello", checksum ok true
	// in  127.0.0.1:9000 -> 127.0.0.1:40000 33 bytes of IP, payload "hello", checksum ok true
}
