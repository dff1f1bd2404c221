package serve

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// BenchmarkEcho measures the Server's echo path, round trips of 64-byte
// datagrams in batches of 32 through a wildcard socket (destination
// address on, replies from it); allocations are per round of 32.
func BenchmarkEcho(b *testing.B) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	srv := &Server{Conn: conn, Handler: Echo}
	ready := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(ready) }
	go srv.ActivateAndServe()
	<-ready
	defer srv.Shutdown(context.Background())
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), dgram.LocalAddrPort(conn).Port())
	cu, err := dgram.DialAddrPort(to, netip.AddrPort{})
	if err != nil {
		b.Fatal(err)
	}
	cli, err := dgram.NewConn(cu, dgram.ConnConfig{Batch: 32})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	out, in := make([]dgram.Message, 32), make([]dgram.Message, 32)
	for i := range out {
		out[i].Buf, in[i].Buf = make([]byte, 64), make([]byte, 2048)
	}
	cli.SetReadDeadline(time.Now().Add(time.Minute))
	b.SetBytes(64 * 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cli.WriteBatch(out); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < len(out); {
			n, err := cli.ReadBatch(in)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}
