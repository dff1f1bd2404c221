package main

import (
	"context"

	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// The boundaries scenario: five writes over TCP come back as one chunk of
// a byte stream, over UDP as five datagrams; and a datagram bigger than the
// reader's buffer is truncated by UDP, where TCP hands over the rest on
// the next read.

const (
	boundaryWrites = 5
	bigMessage     = 3000
	smallBuffer    = 1024
)

type boundaryResult struct {
	messages  []string
	tcpReads  []string
	udpReads  []string
	udpBig    int  // bytes the UDP read of the big datagram returned
	udpTrunc  bool // and whether MSG_TRUNC was reported
	udpNext   string
	tcpBigRds []int
}

func runBoundaries(ctx context.Context, w io.Writer, js *jsonWriter) error {
	r := &boundaryResult{}
	for i := 1; i <= boundaryWrites; i++ {
		r.messages = append(r.messages, fmt.Sprintf("message %d", i))
	}
	if err := tcpBoundaries(ctx, r); err != nil {
		return fmt.Errorf("demo boundaries (TCP): %w", err)
	}
	if err := udpBoundaries(r); err != nil {
		return fmt.Errorf("demo boundaries (UDP): %w", err)
	}
	if js != nil {
		sizes := func(ss []string) []int {
			out := []int{}
			for _, s := range ss {
				out = append(out, len(s))
			}
			return out
		}
		if err := js.write(struct {
			Type         string `json:"type"`
			Writes       int    `json:"writes"`
			TCPReads     int    `json:"tcp_reads"`
			UDPDatagrams int    `json:"udp_datagrams"`
			TCPBytes     []int  `json:"tcp_read_bytes"`
			UDPBytes     []int  `json:"udp_read_bytes"`
		}{"boundaries", boundaryWrites, len(r.tcpReads), len(r.udpReads), sizes(r.tcpReads), sizes(r.udpReads)}); err != nil {
			return err
		}
		return js.write(struct {
			Type          string `json:"type"`
			DatagramBytes int    `json:"datagram_bytes"`
			BufferBytes   int    `json:"buffer_bytes"`
			UDPReadBytes  int    `json:"udp_read_bytes"`
			UDPTruncated  bool   `json:"udp_truncated"`
			UDPNext       string `json:"udp_next_read"`
			TCPReads      []int  `json:"tcp_reads"`
		}{"truncation", bigMessage, smallBuffer, r.udpBig, r.udpTrunc, r.udpNext, r.tcpBigRds})
	}
	quoteAll := func(ss []string) string {
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = fmt.Sprintf("%q", s)
		}
		return strings.Join(q, " | ")
	}
	fmt.Fprintln(w, "udpchat demo boundaries: a byte stream against datagrams")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The sender wrote %d messages, one write each: %s\n", boundaryWrites, quoteAll(r.messages))
	fmt.Fprintf(w, "  TCP (a byte stream): %s returned %s\n", plural(uint64(len(r.tcpReads)), "read"), quoteAll(r.tcpReads))
	fmt.Fprintf(w, "  UDP (datagrams):     %s returned %s\n", plural(uint64(len(r.udpReads)), "read"), quoteAll(r.udpReads))
	fmt.Fprintln(w, "TCP keeps the bytes and their order but not the writes: the receiver cannot tell where one")
	fmt.Fprintln(w, "message ends (the \"sticky packet\" problem), so TCP protocols add a length prefix or a")
	fmt.Fprintln(w, "delimiter. UDP keeps each write a message: one write, one datagram, one read.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "One message of %d bytes, read into a %d-byte buffer:\n", bigMessage, smallBuffer)
	trunc := "and did not report it"
	if r.udpTrunc {
		trunc = "and reported it truncated (MSG_TRUNC)"
	}
	fmt.Fprintf(w, "  UDP: the read returned %d bytes %s; the next read returned the next datagram, %q:\n", r.udpBig, trunc, r.udpNext)
	fmt.Fprintf(w, "       the other %d bytes are gone for good. Size the buffer for the largest datagram (65535 is always enough).\n", bigMessage-r.udpBig)
	parts := make([]string, len(r.tcpBigRds))
	for i, n := range r.tcpBigRds {
		parts[i] = fmt.Sprint(n)
	}
	fmt.Fprintf(w, "  TCP: reads returned %s bytes: nothing lost, the rest waited for the next read.\n", strings.Join(parts, ", "))
	return nil
}

// boundaryDeadline bounds every wait of the scenario.
const boundaryDeadline = 10 * time.Second

func tcpBoundaries(ctx context.Context, r *boundaryResult) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	type acc struct {
		c   net.Conn
		err error
	}
	accepted := make(chan acc, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- acc{c, err}
	}()
	var d net.Dialer
	client, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer client.Close()
	a := <-accepted
	if a.err != nil {
		return a.err
	}
	server := a.c
	defer server.Close()
	deadline := time.Now().Add(boundaryDeadline)
	_ = server.SetReadDeadline(deadline)

	// five writes, then wait until all their bytes are queued at the
	// receiver, then read as an application would
	total := 0
	for _, m := range r.messages {
		if _, err := io.WriteString(client, m); err != nil {
			return err
		}
		total += len(m)
	}
	waitQueued(server, total, deadline)
	buf := make([]byte, 4096)
	for got := 0; got < total; {
		n, err := server.Read(buf)
		if err != nil {
			return err
		}
		r.tcpReads = append(r.tcpReads, string(buf[:n]))
		got += n
	}
	// the big message, read with a small buffer
	if _, err := client.Write(make([]byte, bigMessage)); err != nil {
		return err
	}
	waitQueued(server, bigMessage, deadline)
	small := make([]byte, smallBuffer)
	for got := 0; got < bigMessage; {
		n, err := server.Read(small)
		if err != nil {
			return err
		}
		r.tcpBigRds = append(r.tcpBigRds, n)
		got += n
	}
	return nil
}

func udpBoundaries(r *boundaryResult) error {
	rx, err := dgram.ListenAddrPort(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		return err
	}
	defer rx.Close()
	tx, err := dgram.DialAddrPort(dgram.LocalAddrPort(rx), netip.AddrPort{})
	if err != nil {
		return err
	}
	defer tx.Close()
	_ = rx.SetReadDeadline(time.Now().Add(boundaryDeadline))
	for _, m := range r.messages {
		if _, err := tx.Write([]byte(m)); err != nil {
			return err
		}
	}
	rd := dgram.NewReader(rx, 4096)
	for range r.messages {
		d, err := rd.Read()
		if err != nil {
			return err
		}
		r.udpReads = append(r.udpReads, string(d.Data))
	}
	if _, err := tx.Write(make([]byte, bigMessage)); err != nil {
		return err
	}
	if _, err := tx.Write([]byte("next datagram")); err != nil {
		return err
	}
	small := dgram.NewReader(rx, smallBuffer)
	d, err := small.Read()
	if err != nil {
		return err
	}
	r.udpBig, r.udpTrunc = len(d.Data), d.Truncated
	d, err = small.Read()
	if err != nil {
		return err
	}
	r.udpNext = string(d.Data)
	return nil
}

// waitQueued waits (until deadline) until n bytes are queued for reading
// on a TCP connection, where the system can say (SIOCINQ); elsewhere it
// returns at once. Loopback queues a write before it returns almost always;
// this makes "almost" certain, so the demo reads what a slow reader would.
func waitQueued(c net.Conn, n int, deadline time.Time) {
	for time.Now().Before(deadline) {
		q, ok := queuedBytes(c)
		if !ok || q >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
