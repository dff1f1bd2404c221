package serve_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/guard"
	"github.com/udpchat/udpchat/dgram/serve"
)

// An echo server on every address of the host, through the reflection
// guard: each reply leaves from the address the client wrote to.
func Example() {
	ctx := context.Background()
	conn, err := dgram.Listen(ctx, "0.0.0.0:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close() // the caller's: the server never closes it
	ready := make(chan struct{})
	srv := &serve.Server{
		Conn:              conn,
		Guard:             guard.New(guard.Config{}),
		NotifyStartedFunc: func() { close(ready) },
		Handler: serve.HandlerFunc(func(w serve.ResponseWriter, r *serve.Request) error {
			_, err := w.Write(fmt.Appendf(nil, "%s, sent to %v", r.Data, r.To.Addr()))
			return err
		}),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	<-ready

	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), dgram.LocalAddrPort(conn).Port())
	cli, err := dgram.DialAddrPort(to, netip.AddrPort{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	cli.Write([]byte("hello"))
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := cli.Read(buf)
	fmt.Printf("%s %v\n", buf[:n], err)

	srv.Shutdown(ctx)
	fmt.Println(<-done, srv.Stats().Received)
	// Output:
	// hello, sent to 127.0.0.1 <nil>
	// <nil> 1
}
