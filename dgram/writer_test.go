package dgram

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestWriterSkipsUnsendable: a reply the kernel refuses for its
// destination alone (here port 0, EINVAL: a forged source a server
// answers) costs that reply, not the ones queued after it in the same
// batch. Before, Flush counted every later datagram as failed, so one
// forged datagram per batch silenced a server's answers to everyone
// else.
func TestWriterSkipsUnsendable(t *testing.T) {
	for _, gso := range []bool{false, true} {
		srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		var rcv [3]*net.UDPConn
		for i := range rcv {
			if rcv[i], err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
				t.Fatal(err)
			}
			defer rcv[i].Close()
		}
		addr := func(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }
		w, err := NewWriter(srv, 16, gso)
		if err != nil {
			t.Fatal(err)
		}
		w.Add([]byte("one"), addr(rcv[0]))
		w.Add([]byte("forged"), netip.MustParseAddrPort("127.0.0.1:0"))
		w.Add([]byte("two"), addr(rcv[1]))
		w.Add([]byte("three"), addr(rcv[2]))
		w.Add([]byte("three"), addr(rcv[2]))
		sent, failed, err := w.Flush()
		if sent != 4 || failed != 1 || err == nil {
			t.Errorf("gso %v: Flush() = %d sent, %d failed, %v; want 4, 1, the error of port 0", gso, sent, failed, err)
		}
		for i, want := range []string{"one", "two", "three", "three"} {
			c := rcv[min(i, 2)]
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 64)
			n, err := c.Read(b)
			if err != nil || string(b[:n]) != want {
				t.Errorf("gso %v: receiver %d got %q, %v; want %q", gso, min(i, 2), b[:n], err, want)
			}
		}
	}
}
