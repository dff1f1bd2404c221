package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/guard"
	"github.com/udpchat/udpchat/dgram/seal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testDeadline bounds every wait; a passing test never reaches it.
const testDeadline = 10 * time.Second

// start runs srv on a socket bound to addr and returns once it reads
// (NotifyStartedFunc); the test's cleanup shuts it down and checks what
// ActivateAndServe returned.
func start(t *testing.T, addr string, srv *Server) (conn *net.UDPConn, result <-chan error) {
	t.Helper()
	conn, err := dgram.Listen(context.Background(), addr)
	if err != nil {
		t.Skip(err)
	}
	srv.Conn = conn
	ready := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(ready) }
	res := make(chan error, 1)
	go func() { res <- srv.ActivateAndServe() }()
	select {
	case <-ready:
	case err := <-res:
		t.Fatalf("ActivateAndServe returned at once: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		conn.Close()
	})
	return conn, res
}

// ask sends msg on a socket connected to to and returns the reply.
func ask(t *testing.T, to netip.AddrPort, msg string) (string, error) {
	t.Helper()
	c, err := dgram.DialAddrPort(to, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(testDeadline))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// A wildcard server answers each client from the address it wrote to: a
// connected client only accepts that address.
func TestEchoFromContactedAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address on Linux only")
	}
	for _, tc := range []struct {
		bind string
		to   []string
	}{
		{"0.0.0.0:0", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{"[::]:0", []string{"127.0.0.2", "::1"}},
	} {
		t.Run(tc.bind, func(t *testing.T) {
			var mu sync.Mutex
			var tos []string
			h := HandlerFunc(func(w ResponseWriter, r *Request) error {
				mu.Lock()
				tos = append(tos, r.To.Addr().String())
				mu.Unlock()
				_, err := w.Write(append([]byte("echo: "), r.Data...))
				return err
			})
			srv := &Server{Handler: h}
			conn, _ := start(t, tc.bind, srv)
			port := dgram.LocalAddrPort(conn).Port()
			for _, a := range tc.to {
				to := netip.AddrPortFrom(netip.MustParseAddr(a), port)
				got, err := ask(t, to, "hi "+a)
				if err != nil || got != "echo: hi "+a {
					t.Errorf("client of %v got %q, %v", to, got, err)
				}
			}
			if err := srv.Shutdown(context.Background()); err != nil { // the counts are final
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(tos) != fmt.Sprint(tc.to) {
				t.Errorf("Request.To = %v, want %v", tos, tc.to)
			}
			if st := srv.Stats(); st.Received != uint64(len(tc.to)) || st.Replies != uint64(len(tc.to)) {
				t.Errorf("Stats = %+v, want %d received and replied", st, len(tc.to))
			}
		})
	}
}

// Count ends the server after exactly N datagrams; the ones after stay
// queued on the socket for whoever reads next.
func TestCountLeavesTheRestQueued(t *testing.T) {
	var got []string
	srv := &Server{Count: 3, Handler: HandlerFunc(func(w ResponseWriter, r *Request) error {
		got = append(got, string(r.Data))
		return nil
	})}
	conn, res := start(t, "127.0.0.1:0", srv)
	c, err := dgram.DialAddrPort(dgram.LocalAddrPort(conn), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 5 {
		c.Write(fmt.Appendf(nil, "d%d", i))
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("ActivateAndServe = %v, want nil after Count", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Count did not end the server")
	}
	if fmt.Sprint(got) != "[d0 d1 d2]" {
		t.Errorf("handled %v, want [d0 d1 d2]", got)
	}
	r := dgram.NewReader(conn, 0)
	conn.SetReadDeadline(time.Now().Add(testDeadline))
	for _, want := range []string{"d3", "d4"} {
		if d, err := r.Read(); err != nil || string(d.Data) != want {
			t.Errorf("next on the socket = %q, %v; want %q", d.Data, err, want)
		}
	}
}

// IdleTimeout ends the server with ErrIdle, counted from the last
// datagram.
func TestIdleTimeout(t *testing.T) {
	handled := make(chan struct{}, 1)
	srv := &Server{IdleTimeout: 50 * time.Millisecond, Handler: HandlerFunc(func(w ResponseWriter, r *Request) error {
		handled <- struct{}{}
		return nil
	})}
	conn, res := start(t, "127.0.0.1:0", srv)
	c, _ := dgram.DialAddrPort(dgram.LocalAddrPort(conn), netip.AddrPort{})
	defer c.Close()
	// The server times its idleness from when it read the datagram, which
	// is after this: the only instant the test knows to precede it (the
	// handler's signal may reach the test any time later).
	sent := time.Now()
	c.Write([]byte("x"))
	<-handled
	select {
	case err := <-res:
		if !errors.Is(err, ErrIdle) {
			t.Fatalf("ActivateAndServe = %v, want ErrIdle", err)
		}
		if since := time.Since(sent); since < 50*time.Millisecond {
			t.Errorf("returned %v after the datagram was sent: before the idle timeout", since)
		}
	case <-time.After(testDeadline):
		t.Fatal("IdleTimeout did not end the server")
	}
}

// Shutdown wakes a blocked reader, waits for it, and leaves the socket
// open with no deadline; datagrams queued before it are still served.
func TestShutdownDrainsAndWaits(t *testing.T) {
	var got []string
	srv := &Server{Handler: HandlerFunc(func(w ResponseWriter, r *Request) error {
		got = append(got, string(r.Data))
		return nil
	})}
	conn, res := start(t, "127.0.0.1:0", srv)
	c, _ := dgram.DialAddrPort(dgram.LocalAddrPort(conn), netip.AddrPort{})
	defer c.Close()
	c.Write([]byte("queued")) // on loopback, in the socket's queue once Write returns
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatalf("ActivateAndServe after Shutdown = %v", err)
	}
	if fmt.Sprint(got) != "[queued]" {
		t.Errorf("served %v, want the queued datagram", got)
	}
	if err := srv.ActivateAndServe(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("ActivateAndServe after Shutdown = %v, want ErrServerClosed", err)
	}
	// the socket is the caller's, open, with no deadline left behind
	c.Write([]byte("after"))
	conn.SetReadDeadline(time.Time{})
	d, err := dgram.NewReader(conn, 0).Read()
	if err != nil || string(d.Data) != "after" {
		t.Errorf("socket after Shutdown: %q, %v", d.Data, err)
	}
}

// With a key, only authentic datagrams reach the Handler (the others go to
// Rejected, with their cause), and replies are sealed.
func TestSealed(t *testing.T) {
	k, err := seal.NewKey(bytes.Repeat([]byte{7}, seal.SecretLen))
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := k.NewSealer()
	opener := k.NewOpener(seal.Config{})
	opener.Ignore(sealer.Session())
	var mu sync.Mutex
	var causes []string
	srv := &Server{Handler: Echo, Opener: opener, Sealer: sealer,
		Rejected: func(r *Request, c seal.Cause) error {
			mu.Lock()
			defer mu.Unlock()
			causes = append(causes, c.String())
			return nil
		}}
	conn, _ := start(t, "127.0.0.1:0", srv)
	cu, _ := dgram.DialAddrPort(dgram.LocalAddrPort(conn), netip.AddrPort{})
	cli, err := seal.NewConn(cu, k, seal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cu.Write([]byte("plain text")) // rejected
	if _, err := cli.WriteBatch([]dgram.Message{{Buf: []byte("sealed hello")}}); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(testDeadline))
	in := []dgram.Message{{Buf: make([]byte, 100)}}
	if n, err := cli.ReadBatch(in); n != 1 || err != nil || string(in[0].Buf[:in[0].N]) != "sealed hello" {
		t.Fatalf("sealed echo = %d, %v, %q", n, err, in[0].Buf[:in[0].N])
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(causes) != "[unsealed]" {
		t.Errorf("rejected %v, want [unsealed]", causes)
	}
	if err := srv.Shutdown(context.Background()); err != nil { // the counts are final
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Received != 1 || st.Rejected != 1 || st.Replies != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

// The guard refuses replies beyond a source's rate, and the Server counts
// them; the Handler sees a GuardError.
func TestGuard(t *testing.T) {
	var refused []error
	h := HandlerFunc(func(w ResponseWriter, r *Request) error {
		if _, err := w.Write(r.Data); err != nil {
			refused = append(refused, err)
		}
		return nil
	})
	srv := &Server{Handler: h, Count: 4, Guard: guard.New(guard.Config{PerSource: 2, Total: -1})}
	conn, res := start(t, "127.0.0.1:0", srv)
	c, _ := dgram.DialAddrPort(dgram.LocalAddrPort(conn), netip.AddrPort{})
	defer c.Close()
	for i := range 4 {
		c.Write(fmt.Appendf(nil, "n%d", i))
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.Replies != 2 || st.Guarded != 2 || len(refused) != 2 || !errors.Is(refused[0], ErrGuarded) {
		t.Errorf("Stats %+v, handler saw %v; want 2 replies and 2 refused by the guard", st, refused)
	}
	if len(refused) > 0 && !strings.Contains(refused[0].Error(), "source rate") {
		t.Errorf("guard error %q does not say why", refused[0])
	}
}

// A Flusher's output is flushed once the socket goes quiet.
func TestFlusher(t *testing.T) {
	f := &flushCounter{handled: make(chan struct{}, 10), flushed: make(chan int, 10)}
	srv := &Server{Handler: f, FlushEvery: time.Hour}
	conn, _ := start(t, "127.0.0.1:0", srv)
	c, _ := dgram.DialAddrPort(dgram.LocalAddrPort(conn), netip.AddrPort{})
	defer c.Close()
	c.Write([]byte("one"))
	select {
	case n := <-f.flushed: // the first flush is due at once (the last one is long ago)
		if n != 1 {
			t.Errorf("flushed with %d datagrams handled, want 1", n)
		}
	case <-time.After(testDeadline):
		t.Fatal("no flush after a lone datagram")
	}
}

type flushCounter struct {
	n       int
	handled chan struct{}
	flushed chan int
}

func (f *flushCounter) ServeDatagram(w ResponseWriter, r *Request) error { f.n++; return nil }
func (f *flushCounter) Flush() error                                     { f.flushed <- f.n; return nil }

// What Rejected writes is flushed as a delivery's output is: a lone
// forged datagram shows at once, not when the next good one comes.
func TestRejectedIsFlushed(t *testing.T) {
	k, err := seal.NewKey(bytes.Repeat([]byte{7}, seal.SecretLen))
	if err != nil {
		t.Fatal(err)
	}
	f := &flushCounter{handled: make(chan struct{}, 10), flushed: make(chan int, 10)}
	srv := &Server{Handler: f, FlushEvery: time.Hour, Opener: k.NewOpener(seal.Config{}),
		Rejected: func(r *Request, c seal.Cause) error { return nil }}
	conn, _ := start(t, "127.0.0.1:0", srv)
	c, _ := dgram.DialAddrPort(dgram.LocalAddrPort(conn), netip.AddrPort{})
	defer c.Close()
	c.Write([]byte("not sealed"))
	select {
	case n := <-f.flushed:
		if n != 0 {
			t.Errorf("flushed with %d datagrams handled, want 0 (the forged one is rejected)", n)
		}
	case <-time.After(testDeadline):
		t.Fatal("no flush after a lone rejected datagram")
	}
}
