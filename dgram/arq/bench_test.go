package arq

import (
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/netem"
)

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchChunk = 64 << 10

// BenchmarkTransfer measures goodput: b.N messages of 64 KiB (1400-byte
// segments) from one connection to another on loopback: directly, then
// through an in-process netem proxy at 0%, 1% and 5% loss each way (the
// proxy's own work shares the two cores, so the 0% proxy run is the
// baseline for the lossy ones), and TCP on the same machine. Reports MB/s
// and CPU per delivered MB.
func BenchmarkTransfer(b *testing.B) {
	b.Run("arq-direct", func(b *testing.B) { benchArq(b, -1) })
	for _, loss := range []float64{0, 0.01, 0.05} {
		b.Run(fmt.Sprintf("arq-proxy-loss-%g%%", loss*100), func(b *testing.B) { benchArq(b, loss) })
	}
	b.Run("tcp", benchTCP)
}

// benchArq runs one transfer; loss < 0 means no proxy.
func benchArq(b *testing.B, loss float64) {
	srv, cli := udp(b), udp(b)
	target := addrOf(srv)
	if loss >= 0 {
		ln := udp(b)
		// the buffers udpchat proxy asks for: with the kernel's default
		// (about 200 KiB) the proxy, which shares the two cores with both
		// ends, drops what a burst brings while it waits for one
		_, _, _ = dgram.SetBuffers(ln, 4<<20, 4<<20)
		p, err := netem.NewProxy(ln, netem.ProxyConfig{Target: target, Up: netem.Config{Loss: loss}, Down: netem.Config{Loss: loss}, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		go p.Serve()
		defer p.Close()
		target = addrOf(ln)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := Listen(srv, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err != nil {
			done <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c.Reader())
		c.Close()
		done <- n
	}()
	c, err := Dial(ctx, cli, target, Config{})
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for range b.N {
		if err := c.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	n := <-done
	el := time.Since(start)
	b.StopTimer()
	if n != int64(b.N)*benchChunk {
		b.Fatalf("received %d bytes, want %d", n, int64(b.N)*benchChunk)
	}
	mb := float64(n) / 1e6
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/mb, "cpu-ms/MB")
	st := c.Stats()
	b.ReportMetric(float64(st.Retransmits)/float64(max(st.SegmentsSent, 1))*100, "%retx")
	_ = el
}

func benchTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		done <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	n := <-done
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/(float64(n)/1e6), "cpu-ms/MB")
}
