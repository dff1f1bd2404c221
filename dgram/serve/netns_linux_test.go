package serve

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/nstest"
)

// twoHomed builds two hosts joined by a veth pair; the server has two
// addresses of each family on it, the client one.
func twoHomed(t *testing.T) (cli, srv *nstest.NS, addrs []netip.Addr) {
	t.Helper()
	cli, srv = nstest.New(t), nstest.New(t)
	p := netip.MustParsePrefix
	nstest.Link(t, cli, srv, nstest.LinkOptions{
		A: []netip.Prefix{p("198.18.0.10/24"), p("2001:db8::10/64")},
		B: []netip.Prefix{p("198.18.0.1/24"), p("198.18.0.2/24"), p("2001:db8::1/64"), p("2001:db8::2/64")},
	})
	for _, a := range []string{"198.18.0.1", "198.18.0.2", "2001:db8::1", "2001:db8::2"} {
		addrs = append(addrs, netip.MustParseAddr(a))
	}
	return cli, srv, addrs
}

// On a host with two addresses per family, a server bound to every
// address answers each client from the address it wrote to: the client's
// connected socket hears every answer. Without the destination address,
// the replies to 198.18.0.2 and 2001:db8::2 would leave from the first
// address of each family and be dropped by the client's socket.
func TestTwoHomedEcho(t *testing.T) {
	cli, srvNS, addrs := twoHomed(t)
	var conn *net.UDPConn
	srvNS.MustDo(func() (err error) {
		conn, err = net.ListenUDP("udp", &net.UDPAddr{}) // [::]:port, dual-stack
		return err
	})
	defer conn.Close()
	srv := &Server{Conn: conn, Handler: Echo}
	ready := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(ready) }
	res := make(chan error, 1)
	go func() { res <- srv.ActivateAndServe() }()
	<-ready
	port := dgram.LocalAddrPort(conn).Port()
	for _, a := range addrs {
		to := netip.AddrPortFrom(a, port)
		var got string
		cli.MustDo(func() error {
			c, err := dgram.DialAddrPort(to, netip.AddrPort{})
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Write([]byte("to " + a.String())); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(testDeadline))
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("no echo from %v: %w", to, err)
			}
			got = string(buf[:n])
			return nil
		})
		if got != "to "+a.String() {
			t.Errorf("echo from %v = %q", to, got)
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Received != 4 || st.Replies != 4 {
		t.Errorf("Stats %+v, want 4 received and 4 replies", st)
	}
}
