package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/netem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testDeadline = 60 * time.Second

func udp(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c net.PacketConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

var cfg = arq.Config{InitialRTO: 50 * time.Millisecond, IdleTimeout: 5 * time.Second}

// pair starts a listener and returns it with a function that dials it,
// both through a lossy link.
func pair(t *testing.T) (*arq.Listener, func() *arq.Conn) {
	t.Helper()
	srv := udp(t)
	ws, err := netem.Wrap(srv, netem.Options{Write: netem.Config{Loss: 0.05}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	ln, err := arq.Listen(ws, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	dial := func() *arq.Conn {
		cli := udp(t)
		wc, err := netem.Wrap(cli, netem.Options{Write: netem.Config{Loss: 0.05}, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { wc.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		c, err := arq.Dial(ctx, wc, addrOf(srv), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Abort)
		return c
	}
	return ln, dial
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

type recvResult struct {
	got *Received
	err error
}

func receive(t *testing.T, ln *arq.Listener, o Options) <-chan recvResult {
	t.Helper()
	done := make(chan recvResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		c, err := ln.Accept(ctx)
		if err != nil {
			done <- recvResult{err: err}
			return
		}
		got, err := Receive(ctx, c, o)
		done <- recvResult{got, err}
	}()
	return done
}

func sendFile(t *testing.T, c *arq.Conn, name string, data []byte) (*Sent, error) {
	t.Helper()
	s, err := NewSender(c, Header{Kind: KindFile, Name: name, Size: int64(len(data))})
	if err != nil {
		return nil, err
	}
	if _, err := s.ReadFrom(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	return s.Finish(ctx)
}

// TestFileSavedIntoDirectory: a file sent to a directory is saved there
// under the sender's base name, verified, with the mode the umask gives;
// the sender hears "saved" only then.
func TestFileSavedIntoDirectory(t *testing.T) {
	ln, dial := pair(t)
	dir := t.TempDir()
	done := receive(t, ln, Options{Dest: &Destination{Output: dir}})
	data := randomBytes(300<<10, 1)
	sent, err := sendFile(t, dial(), "../../etc/photo.jpg", data)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("receive: %v", r.err)
	}
	if sent.Verdict.Status != StatusSaved || sent.Verdict.Name != "photo.jpg" {
		t.Errorf("verdict %+v, want saved as photo.jpg", sent.Verdict)
	}
	path := filepath.Join(dir, "photo.jpg")
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%s: %d bytes, %v; want the %d bytes sent", path, len(got), err, len(data))
	}
	if r.got.Path != path || r.got.SHA256 != sha256.Sum256(data) {
		t.Errorf("Received %+v", r.got)
	}
	st, _ := os.Stat(path)
	if want := os.FileMode(0o666) &^ umask(); st.Mode().Perm() != want {
		t.Errorf("mode %v, want %v (0666 less the umask)", st.Mode().Perm(), want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries in the directory, want the file alone", len(entries))
	}
}

// TestExistingFileRefused: an existing file is not replaced: the sender is
// told at once, with the reason, and the file keeps its bytes.
func TestExistingFileRefused(t *testing.T) {
	ln, dial := pair(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.txt")
	os.WriteFile(path, []byte("keep me"), 0o640)
	done := receive(t, ln, Options{Dest: &Destination{Output: path}})
	_, err := sendFile(t, dial(), "x.txt", randomBytes(2<<20, 2))
	var re *RefusedError
	if !errors.As(err, &re) || re.Verdict.Code != CodeExists {
		t.Fatalf("send: %v, want a refusal with code exists", err)
	}
	if r := <-done; !errors.As(r.err, &re) {
		t.Errorf("receive: %v, want the refusal", r.err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Errorf("the existing file now holds %q", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("the existing file's mode became %v", st.Mode().Perm())
	}
}

// TestMessagesDelivered: a messages transfer to a receiver that saves
// nothing is "delivered", each message handed over in order.
func TestMessagesDelivered(t *testing.T) {
	ln, dial := pair(t)
	var got []string
	done := receive(t, ln, Options{OnMessage: func(m []byte) error { got = append(got, string(m)); return nil }})
	s, err := NewSender(dial(), Header{Kind: KindMessages})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"one", "", "three"} {
		if err := s.Message([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	sent, err := s.Finish(context.Background())
	if err != nil || sent.Verdict.Status != StatusDelivered || sent.Messages != 3 {
		t.Fatalf("Finish = %+v, %v", sent, err)
	}
	if r := <-done; r.err != nil || len(got) != 3 || got[2] != "three" {
		t.Fatalf("receive: %v, got %q", r.err, got)
	}
}

// TestFileWithoutOutputRefused: a receiver that saves nothing refuses a
// file at once, instead of taking it and letting the sender believe it
// was kept.
func TestFileWithoutOutputRefused(t *testing.T) {
	ln, dial := pair(t)
	done := receive(t, ln, Options{})
	_, err := sendFile(t, dial(), "a.bin", randomBytes(1<<20, 3))
	var re *RefusedError
	if !errors.As(err, &re) || re.Verdict.Code != CodeNotSaved {
		t.Fatalf("send: %v, want a refusal with code not-saved", err)
	}
	<-done
}

func umask() os.FileMode {
	f, err := os.CreateTemp("", "umask")
	if err != nil {
		return 0o022
	}
	defer os.Remove(f.Name())
	f.Close()
	os.Remove(f.Name())
	g, err := os.OpenFile(f.Name(), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return 0o022
	}
	g.Close()
	st, _ := os.Stat(f.Name())
	return 0o666 &^ st.Mode().Perm()
}
