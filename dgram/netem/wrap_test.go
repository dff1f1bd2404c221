package netem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testDeadline = 10 * time.Second

func udpPair(t *testing.T) (a, b *net.UDPConn) {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	a, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	b, err = net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func numbered(n uint32) []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint32(b, n)
	return b
}

func TestWrapScriptedFaults(t *testing.T) {
	srv, raw := udpPair(t)
	s, _ := ParseScript("drop 2,4; dup 5; swap 7")
	c, err := Wrap(raw, Options{Write: Config{Script: s}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := uint32(1); i <= 9; i++ {
		if n, err := c.WriteTo(numbered(i), srv.LocalAddr()); n != 32 || err != nil {
			t.Fatalf("WriteTo = %d, %v", n, err)
		}
	}
	raw.WriteTo(numbered(999), srv.LocalAddr()) // unimpaired marker, after the rest
	// swap 7 holds datagram 7 until 8 has passed; 9 follows.
	got := readUntilCount(t, srv, 8)
	if fmt.Sprint(got) != "[1 3 5 5 6 8 7 9]" {
		t.Errorf("received %v, want [1 3 5 5 6 8 7 9]", got)
	}
	w := c.WriteCounters()
	if w.In != 9 || w.Out != 8 || w.DropScript != 2 || w.Duplicated != 1 || w.Reordered != 1 {
		t.Errorf("write counters %+v", w)
	}
}

// readUntilCount reads n numbered datagrams, skipping the marker 999.
func readUntilCount(t *testing.T, c net.PacketConn, n int) []uint32 {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testDeadline))
	var got []uint32
	buf := make([]byte, 100)
	for len(got) < n {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if x := binary.BigEndian.Uint32(buf[:k]); x != 999 {
			got = append(got, x)
		}
	}
	return got
}

func TestWrapDelayKeepsOrder(t *testing.T) {
	srv, raw := udpPair(t)
	c, err := Wrap(raw, Options{Write: Config{Delay: 3 * time.Millisecond, Jitter: 2 * time.Millisecond}, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := uint32(1); i <= 50; i++ {
		c.WriteTo(numbered(i), srv.LocalAddr())
	}
	got := readUntilCount(t, srv, 50)
	for i, x := range got {
		if x != uint32(i+1) {
			t.Fatalf("received %v, want 1..50 in order", got)
		}
	}
	if d := c.WriteCounters().Delayed; d != 50 {
		t.Errorf("Delayed = %d, want 50", d)
	}
}

func TestWrapRead(t *testing.T) {
	srvRaw, cli := udpPair(t)
	s, _ := ParseScript("drop 1; dup 3")
	srv, err := Wrap(srvRaw, Options{Read: &Config{Script: s, Delay: time.Millisecond}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for i := uint32(1); i <= 4; i++ {
		cli.WriteTo(numbered(i), srv.LocalAddr())
	}
	got := readUntilCount(t, srv, 4)
	if fmt.Sprint(got) != "[2 3 3 4]" {
		t.Errorf("read %v, want [2 3 3 4]", got)
	}
	// the read deadline works on the impaired read side
	srv.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	_, _, err = srv.ReadFrom(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadFrom past the deadline = %v, want a timeout", err)
	}
}

func TestWrapCloseUnblocksAndLeaksNothing(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, raw := udpPair(t)
	c, err := Wrap(raw, Options{Write: Config{Delay: time.Hour}, Read: &Config{Loss: 0.5}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.WriteTo(numbered(1), raw.LocalAddr()) // held for an hour
	done := make(chan error)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		done <- err
	}()
	time.Sleep(time.Millisecond) // let ReadFrom block; the test does not depend on it
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Close did not wake ReadFrom")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := c.WriteTo(numbered(2), raw.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close = %v, want net.ErrClosed", err)
	}
}

func TestWrapValidates(t *testing.T) {
	_, raw := udpPair(t)
	if _, err := Wrap(raw, Options{Write: Config{Loss: 2}}); !errors.Is(err, ErrConfig) {
		t.Errorf("Wrap(Loss 2) = %v, want ErrConfig", err)
	}
	if _, err := Wrap(raw, Options{Read: &Config{Delay: -1}}); !errors.Is(err, ErrConfig) {
		t.Errorf("Wrap(Read.Delay -1) = %v, want ErrConfig", err)
	}
}
