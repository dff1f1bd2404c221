package dgram_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// A listener and a sender on loopback: the recvfrom/sendto pattern.
func Example() {
	ctx := context.Background()
	srv, err := dgram.Listen(ctx, "127.0.0.1:0") // port 0: the kernel picks one
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	cli, err := dgram.Dial(ctx, dgram.LocalAddrPort(srv).String(), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	cli.Write([]byte("hello"))

	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	d, err := dgram.NewReader(srv, 0).Read()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d bytes: %s (from the sender's port: %v)\n", len(d.Data), d.Data, d.From == dgram.LocalAddrPort(cli))
	// Output: 5 bytes: hello (from the sender's port: true)
}

// Errors say what to do, and callers test them with errors.Is.
func ExampleCheckSize() {
	dst, _ := dgram.Resolve(context.Background(), "127.0.0.1:9000")
	err := dgram.CheckSize(70000, dst)
	fmt.Println(errors.Is(err, dgram.ErrTooLong))
	fmt.Println(err)
	// Output:
	// true
	// message of 70000 bytes is too long for one UDP datagram to 127.0.0.1:9000: the limit over IPv4 is 65507 bytes; send less or split it
}

// A server bound to every address answers each peer from the address that
// peer wrote to, so that a connected client (which accepts datagrams from
// its peer's address only) receives the reply.
func ExampleConn() {
	sock, err := dgram.Listen(context.Background(), "0.0.0.0:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := dgram.NewConn(sock, dgram.ConnConfig{Dst: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close() // closes sock too: a wrapper owns what it was given

	port := dgram.LocalAddrPort(sock).Port()
	cli, err := dgram.Dial(context.Background(), fmt.Sprintf("127.0.0.1:%d", port), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	cli.Write([]byte("hello"))

	in := []dgram.Message{{Buf: make([]byte, 1500)}}
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := srv.ReadBatch(in); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sent to", in[0].Local.Addr())
	var reply dgram.Message
	reply.ReplyTo(&in[0])
	reply.Buf = []byte("HELLO")
	if _, err := srv.WriteBatch([]dgram.Message{reply}); err != nil {
		fmt.Println(err)
		return
	}
	buf := make([]byte, 100)
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := cli.Read(buf)
	fmt.Printf("%s %v\n", buf[:n], err)
	// Output:
	// sent to 127.0.0.1
	// HELLO <nil>
}
