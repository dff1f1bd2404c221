package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
)

// fakeReceiver accepts one connection on a plain loopback listener (no
// impairment), reads the whole transfer, and then does what answer
// says: it gets the connection after the sender's FIN arrived.
func fakeReceiver(t *testing.T, c arq.Config, answer func(*arq.Conn)) (dial func() *arq.Conn) {
	t.Helper()
	srv := udp(t)
	ln, err := arq.Listen(srv, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		defer conn.Abort()
		for {
			if _, err := conn.Recv(); err != nil {
				if err == io.EOF {
					answer(conn)
				}
				return
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return func() *arq.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		conn, err := arq.Dial(ctx, udp(t), addrOf(srv), c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Abort)
		return conn
	}
}

// TestVerdictMustMatchTransfer: success is a verdict about this transfer:
// "saved" for a file (not "delivered", which says that it was not kept),
// with the bytes and the SHA-256 that were sent. Anything else is not
// success, whatever its status says.
func TestVerdictMustMatchTransfer(t *testing.T) {
	data := randomBytes(50<<10, 7)
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	for _, tc := range []struct {
		name    string
		verdict Verdict
		ok      bool
	}{
		{"saved", Verdict{Status: StatusSaved, Name: "a.bin", Bytes: int64(len(data)), SHA256: sum}, true},
		{"delivered for a file", Verdict{Status: StatusDelivered, Bytes: int64(len(data)), SHA256: sum}, false},
		{"other size", Verdict{Status: StatusSaved, Name: "a.bin", Bytes: 5, SHA256: sum}, false},
		{"other checksum", Verdict{Status: StatusSaved, Name: "a.bin", Bytes: int64(len(data)), SHA256: hex.EncodeToString(make([]byte, 32))}, false},
		{"no checksum", Verdict{Status: StatusSaved, Name: "a.bin", Bytes: int64(len(data))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial := fakeReceiver(t, cfg, func(c *arq.Conn) {
				c.Send(AppendVerdict(nil, tc.verdict))
				c.Close()
			})
			sent, err := sendFile(t, dial(), "a.bin", data)
			if tc.ok {
				if err != nil || sent.Verdict.Status != StatusSaved {
					t.Fatalf("send: %+v, %v; want saved", sent, err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrFormat) {
				t.Fatalf("send with the verdict %+v: %v, want an error (ErrFormat)", tc.verdict, err)
			}
		})
	}
}

// TestNoVerdictGivesUpAtIdle: a receiver that acknowledges every byte
// and the FIN, and then keeps the connection alive without ever giving
// its verdict, does not hold the sender forever: Finish fails with
// ErrNoVerdict once nothing moved for the idle timeout.
func TestNoVerdictGivesUpAtIdle(t *testing.T) {
	c := arq.Config{IdleTimeout: time.Second}
	hold := make(chan struct{})
	defer close(hold)                                      // before the cleanups, which wait for the receiver
	dial := fakeReceiver(t, c, func(*arq.Conn) { <-hold }) // keepalives answered, no verdict
	s, err := NewSender(dial(), Header{Kind: KindFile, Name: "a.bin", Size: 100 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrom(io.LimitReader(zeros{}, 100<<10)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = s.Finish(ctx)
	if !errors.Is(err, ErrNoVerdict) || ctx.Err() != nil {
		t.Fatalf("Finish = %v (context: %v), want ErrNoVerdict after the idle timeout", err, ctx.Err())
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// dropResets is a socket whose RESET packets are lost on the way.
type dropResets struct{ net.PacketConn }

func (d dropResets) WriteTo(b []byte, to net.Addr) (int, error) {
	if arq.IsArq(b) && b[3] == arq.TypeReset {
		return len(b), nil
	}
	return d.PacketConn.WriteTo(b, to)
}

// TestRefusalHeardWithoutItsReset: a receiver refuses a file early, with
// its verdict and then a RESET; when the RESET is lost, the sender still
// fails with the refusal it heard (once its connection gives up), not
// with "the peer went silent".
func TestRefusalHeardWithoutItsReset(t *testing.T) {
	c := arq.Config{IdleTimeout: time.Second}
	srv := udp(t)
	ln, err := arq.Listen(dropResets{srv}, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := receive(t, ln, Options{Linger: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	conn, err := arq.Dial(ctx, udp(t), addrOf(srv), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Abort)
	_, err = sendFile(t, conn, "a.bin", randomBytes(4<<20, 8))
	var re *RefusedError
	if !errors.As(err, &re) || re.Verdict.Code != CodeNotSaved {
		t.Fatalf("send: %v, want the refusal (not-saved)", err)
	}
	<-done
}

// TestSavedEvenIfTheVerdictIsNotHeard: a file verified and put in place
// is saved, whatever happens to the connection afterwards (the sender
// interrupted, or gone, while the receiver synced it): Receive reports
// it saved, and the CLI says so, instead of "failed ... nothing was
// written" about a file that is there.
func TestSavedEvenIfTheVerdictIsNotHeard(t *testing.T) {
	testHookVerdict = func(c *arq.Conn) { c.Abort() } // the connection ends before the verdict goes
	t.Cleanup(func() { testHookVerdict = nil })
	ln, dial := pair(t)
	dir := t.TempDir()
	done := receive(t, ln, Options{Dest: &Destination{Output: dir}})
	data := randomBytes(100<<10, 9)
	if _, err := sendFile(t, dial(), "kept.bin", data); err == nil {
		t.Error("the sender succeeded without a verdict")
	}
	r := <-done
	path := filepath.Join(dir, "kept.bin")
	if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
		t.Fatalf("%s does not hold the file sent", path)
	}
	if r.err != nil || r.got.Path != path || r.got.Verdict.Status != StatusSaved {
		t.Fatalf("Receive = %+v, %v; want the file saved at %s", r.got, r.err, path)
	}
}

// TestAckedCountsMessages: Acked counts the bytes of the messages the
// receiver acknowledged (what `send --reliable` reports when interrupted),
// not zero because a messages transfer declares no size.
func TestAckedCountsMessages(t *testing.T) {
	ln, dial := pair(t)
	done := receive(t, ln, Options{})
	s, err := NewSender(dial(), Header{Kind: KindMessages})
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for i := range 3000 { // more than maxPending: the acknowledged ones are dropped on the way
		m := bytes.Repeat([]byte{'x'}, i%50)
		want += int64(len(m))
		if err := s.Message(m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if _, err := s.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Acked(); got != want {
		t.Errorf("Acked = %d after every message was delivered, want %d", got, want)
	}
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
}
