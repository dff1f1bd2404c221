package dgram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testDeadline bounds every blocking read in these tests; a passing test
// never waits for it.
const testDeadline = 10 * time.Second

func listenT(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := Listen(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func hasIPv6(t *testing.T) {
	t.Helper()
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	c.Close()
}

func TestListenDialRoundTrip(t *testing.T) {
	for _, fam := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(fam, func(t *testing.T) {
			if strings.HasPrefix(fam, "[") {
				hasIPv6(t)
			}
			srv := listenT(t, fam)
			cli, err := Dial(context.Background(), LocalAddrPort(srv).String(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			if _, err := cli.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			srv.SetReadDeadline(time.Now().Add(testDeadline))
			r := NewReader(srv, 0)
			d, err := r.Read()
			if err != nil {
				t.Fatal(err)
			}
			if string(d.Data) != "hello" || d.From != LocalAddrPort(cli) || d.Truncated {
				t.Errorf("Read() = %q from %v (truncated %v), want \"hello\" from %v", d.Data, d.From, d.Truncated, LocalAddrPort(cli))
			}
			// reply the recvfrom/sendto way
			if _, err := srv.WriteToUDPAddrPort([]byte("hi"), d.From); err != nil {
				t.Fatal(err)
			}
			cli.SetReadDeadline(time.Now().Add(testDeadline))
			rd, err := NewReader(cli, 0).Read()
			if err != nil || string(rd.Data) != "hi" {
				t.Errorf("reply = %q, %v; want \"hi\"", rd.Data, err)
			}
		})
	}
}

func TestDualStackWildcard(t *testing.T) {
	hasIPv6(t)
	srv := listenT(t, ":0")
	port := LocalAddrPort(srv).Port()
	r := NewReader(srv, 0)
	for _, host := range []string{"127.0.0.1", "::1"} {
		dst := netip.AddrPortFrom(netip.MustParseAddr(host), port)
		c, err := DialAddrPort(dst, netip.AddrPort{})
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(host))
		srv.SetReadDeadline(time.Now().Add(testDeadline))
		d, err := r.Read()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		// IPv4 senders show as IPv4, not as ::ffff:127.0.0.1
		if d.From.Addr().String() != host || string(d.Data) != host {
			t.Errorf("from %v got %q via [::]:%d, want from %s", d.From, d.Data, port, host)
		}
	}
}

func TestAddrInUse(t *testing.T) {
	a := listenT(t, "127.0.0.1:0")
	_, err := ListenAddrPort(LocalAddrPort(a))
	if !errors.Is(err, ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen(%v) = %v, want ErrAddrInUse", LocalAddrPort(a), err)
	}
	want := fmt.Sprintf("address %v is already in use", LocalAddrPort(a))
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T, host string) netip.AddrPort {
	t.Helper()
	c, err := ListenAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0))
	if err != nil {
		t.Fatal(err)
	}
	ap := LocalAddrPort(c)
	c.Close()
	return ap
}

func TestRefused(t *testing.T) {
	dst := closedPort(t, "127.0.0.1")
	c, err := DialAddrPort(dst, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(testDeadline))
	_, err = NewReader(c, 0).Read()
	if !errors.Is(err, ErrRefused) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Read after sending to %v = %v, want ErrRefused", dst, err)
	}
	// the error names the peer, not our own address
	if !strings.Contains(err.Error(), "nobody is listening on "+dst.String()) {
		t.Errorf("error %q does not name %v", err, dst)
	}
}

func TestReadTimeout(t *testing.T) {
	c := listenT(t, "127.0.0.1:0")
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := NewReader(c, 0).Read()
	var ne net.Error
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past deadline = %v, want ErrTimeout satisfying net.Error", err)
	}
}

func TestReadClosed(t *testing.T) {
	c := listenT(t, "127.0.0.1:0")
	r := NewReader(c, 0)
	c.Close()
	if _, err := r.Read(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read on closed socket = %v, want net.ErrClosed", err)
	}
}

func TestTruncation(t *testing.T) {
	srv := listenT(t, "127.0.0.1:0")
	cli, err := DialAddrPort(LocalAddrPort(srv), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	big := bytes.Repeat([]byte("0123456789"), 3)
	cli.Write(big)
	cli.Write([]byte("short"))
	r := NewReader(srv, 10)
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	d, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if !d.Truncated || string(d.Data) != "0123456789" {
		t.Errorf("Read() of 30 bytes into 10 = %q truncated=%v, want the first 10 and truncated", d.Data, d.Truncated)
	}
	// The rest is gone: the next read is the next datagram, not bytes 10-29.
	d, err = r.Read()
	if err != nil || string(d.Data) != "short" || d.Truncated {
		t.Errorf("next Read() = %q truncated=%v %v, want \"short\"", d.Data, d.Truncated, err)
	}
	if r.Truncated() != 1 {
		t.Errorf("Truncated() = %d, want 1", r.Truncated())
	}
}

func TestTryRead(t *testing.T) {
	srv := listenT(t, "127.0.0.1:0")
	r := NewReader(srv, 0)
	if _, ok, err := r.TryRead(); ok || err != nil {
		t.Fatalf("TryRead on an empty socket = %v, %v; want false, nil", ok, err)
	}
	cli, err := DialAddrPort(LocalAddrPort(srv), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cli.Write([]byte("queued"))
	// Loopback delivers during the sender's write, so the datagram is
	// queued by now.
	d, ok, err := r.TryRead()
	if !ok || err != nil || string(d.Data) != "queued" || d.From != LocalAddrPort(cli) {
		t.Fatalf("TryRead = %q from %v, %v, %v; want \"queued\" from %v", d.Data, d.From, ok, err, LocalAddrPort(cli))
	}
}

func TestDropCounter(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_RXQ_OVFL is Linux only")
	}
	srv := listenT(t, "127.0.0.1:0")
	if _, _, err := SetBuffers(srv, 1, 0); err != nil { // the kernel's minimum
		t.Fatal(err)
	}
	r := NewReader(srv, 0)
	cli, err := DialAddrPort(LocalAddrPort(srv), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const sent = 200
	payload := make([]byte, 1000)
	for range sent {
		if _, err := cli.Write(payload); err != nil {
			t.Fatal(err)
		}
	}
	received := 0
	for {
		_, ok, err := r.TryRead()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		received++
	}
	drops, known := r.Drops()
	if !known {
		t.Fatal("Drops() unknown on Linux")
	}
	if drops == 0 || received+int(drops) != sent {
		t.Errorf("received %d + dropped %d != sent %d (a tiny buffer must drop some)", received, drops, sent)
	}
}

func TestSetBuffersReportsGrant(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("read-back is Linux only")
	}
	c := listenT(t, "127.0.0.1:0")
	rcv, snd, err := SetBuffers(c, 64<<10, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	// Linux doubles what was asked for (within rmem_max/wmem_max).
	if rcv != 128<<10 || snd != 64<<10 {
		t.Errorf("SetBuffers(64k, 32k) granted %d, %d; want the doubled 131072, 65536", rcv, snd)
	}
}

func TestDialFamilyMismatch(t *testing.T) {
	_, err := Dial(context.Background(), "[::1]:9", "127.0.0.1:0")
	if !errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), "different IP families") {
		t.Fatalf("Dial(v6 from v4) = %v, want ErrBadAddress about families", err)
	}
}

func TestSendTooLongKernel(t *testing.T) {
	// The kernel refuses what CheckSize refuses; the error is ErrTooLong.
	srv := listenT(t, "127.0.0.1:0")
	cli, err := DialAddrPort(LocalAddrPort(srv), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	_, err = cli.Write(make([]byte, MaxPayloadIPv4+1))
	if err = Classify("send", LocalAddrPort(srv).String(), err); !errors.Is(err, ErrTooLong) {
		t.Fatalf("kernel send of 65508 bytes = %v, want ErrTooLong", err)
	}
	if _, err := cli.Write(make([]byte, MaxPayloadIPv4)); err != nil {
		t.Fatalf("send of 65507 bytes = %v, want success", err)
	}
}

// TestPermissionDenied binds a port below 1024 as an unprivileged user, in
// a child process (this test runs the test binary again as nobody).
func TestPermissionDenied(t *testing.T) {
	if os.Getenv("DGRAM_TEST_BIND") != "" {
		_, err := Listen(context.Background(), os.Getenv("DGRAM_TEST_BIND"))
		fmt.Printf("is-permission=%v\n%v\n", errors.Is(err, ErrPermission), err)
		os.Exit(0)
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux")
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n <= 80 {
			t.Skipf("ip_unprivileged_port_start is %d: anyone may bind port 80 here", n)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// go test's build directory is private to root: copy the binary
		// where nobody can run it.
		dir := t.TempDir()
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		exe = filepath.Join(dir, "dgram.test")
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(exe, "-test.run=^TestPermissionDenied$")
	cmd.Env = append(os.Environ(), "DGRAM_TEST_BIND=127.0.0.1:80", "GORACE=atexit_sleep_ms=0")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("cannot run the test binary unprivileged here: %v %s", err, out)
	}
	want := "is-permission=true\npermission denied binding 127.0.0.1:80: ports below 1024 need root or CAP_NET_BIND_SERVICE; use a port of 1024 or above\n"
	if string(out) != want {
		t.Errorf("unprivileged Listen(127.0.0.1:80) printed %q, want %q", out, want)
	}
}
