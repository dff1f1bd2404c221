package transfer_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/arq/transfer"
)

// A file crosses an arq connection on loopback; the sender learns that it
// was verified and saved, not merely that its packets arrived.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer srv.Close()
	ln, _ := arq.Listen(srv, arq.Config{})
	defer ln.Close()

	dir, _ := os.MkdirTemp("", "transfer")
	defer os.RemoveAll(dir)
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			done <- err
			return
		}
		_, err = transfer.Receive(ctx, c, transfer.Options{Dest: &transfer.Destination{Output: dir}})
		done <- err
	}()

	cli, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer cli.Close()
	c, err := arq.Dial(ctx, cli, srv.LocalAddr().(*net.UDPAddr).AddrPort(), arq.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	text := "hello, reliable world\n"
	s, _ := transfer.NewSender(c, transfer.Header{Kind: transfer.KindFile, Name: "hello.txt", Size: int64(len(text))})
	s.ReadFrom(strings.NewReader(text))
	sent, err := s.Finish(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sent.Verdict.Status, sent.Verdict.Name, sent.Verdict.Bytes, "bytes")
	<-done
	b, _ := os.ReadFile(filepath.Join(dir, "hello.txt"))
	fmt.Print(string(b))
	// Output:
	// saved hello.txt 22 bytes
	// hello, reliable world
}
