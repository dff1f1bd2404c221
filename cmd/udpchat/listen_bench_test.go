package main

import (
	"bufio"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seq"
)

// BenchmarkListenHandle measures listen's work per datagram once it has
// been read (tracking and printing), with and without --seq, text and
// JSON: the cost --seq adds must not be what limits listen.
func BenchmarkListenHandle(b *testing.B) {
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	payload := make([]byte, 64)
	copy(payload[seq.HeaderLen:], "payload of a datagram, printable text")
	for _, bc := range []struct {
		name      string
		seq, json bool
	}{{"text", false, false}, {"text-seq", true, false}, {"json", false, true}, {"json-seq", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			bw := bufio.NewWriterSize(io.Discard, 64<<10)
			l := &listener{opts: &listenOpts{seq: bc.seq, json: bc.json}, out: bw, bw: bw, errw: io.Discard,
				senders: newAddrSet(maxSendersCounted)}
			if bc.seq {
				l.tracker = seq.NewTracker(seq.Config{})
			}
			if bc.json {
				l.js = newJSONWriter(bw)
			}
			now := time.Now()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				seq.Header{Seq: uint64(i), Sent: now.UnixNano()}.Put(payload)
				if err := l.handle(dgram.Datagram{Data: payload, From: from}, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
