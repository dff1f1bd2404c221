package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/xtaci/kcp-go/v5"
)

// The quic-go and kcp-go peers run as child processes: this program started
// again with childEnv set. They speak the same small protocol over one
// reliable byte stream:
//
//	sender -> receiver: the file's size (8 bytes, big endian), then its bytes
//	receiver -> sender: the SHA-256 of the bytes it saved (32 bytes)
//
// The receiver writes into a temporary file next to -out, hashes as it
// writes, syncs, renames, and only then answers, as `udpchat listen
// --reliable --output` does. The sender prints one JSON result line when
// the answer matches its own hash of what it read.
const childEnv = "UDPCHAT_COMPARE_PEER"

// alpn names this program's protocol in the TLS handshake.
const alpn = "udpchat-compare"

// chunk is what the peers read and write at a time (the CLI's file chunk).
const chunk = 64 << 10

// isChild says whether this process was started as a peer.
func isChild() bool { return os.Getenv(childEnv) == "1" }

// childOpts are a peer's flags.
type childOpts struct {
	peer, role       string
	until            time.Time
	addr, file, out  string
	certFile, keyPEM string
}

// childMain runs a peer and returns the exit status.
func childMain(args []string) int {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	o := childOpts{}
	fs.StringVar(&o.peer, "peer", "", "quic-go or kcp-go")
	fs.StringVar(&o.role, "role", "", "send or recv")
	until := fs.String("until", "", "give up at this time (RFC 3339)")
	fs.StringVar(&o.addr, "addr", "", "send: the receiver's address")
	fs.StringVar(&o.file, "file", "", "send: the file to send")
	fs.StringVar(&o.out, "out", "", "recv: where to save the file")
	fs.StringVar(&o.certFile, "cert", "", "the PEM certificate")
	fs.StringVar(&o.keyPEM, "key", "", "recv: the PEM private key")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	t, err := time.Parse(time.RFC3339Nano, *until)
	if err != nil {
		fmt.Fprintf(os.Stderr, "peer: -until: %v\n", err)
		return 2
	}
	o.until = t
	ctx, cancel := context.WithDeadline(context.Background(), o.until)
	defer cancel()
	switch {
	case o.peer == peerQUIC && o.role == "recv":
		err = quicRecv(ctx, &o)
	case o.peer == peerQUIC && o.role == "send":
		err = quicSend(ctx, &o)
	case o.peer == peerKCP && o.role == "recv":
		err = kcpRecv(ctx, &o)
	case o.peer == peerKCP && o.role == "send":
		err = kcpSend(ctx, &o)
	default:
		err = fmt.Errorf("unknown peer %q or role %q", o.peer, o.role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", o.peer, o.role, err)
		if o.role == "send" {
			printJSON(map[string]any{"type": "result", "ok": false, "error": err.Error()})
		}
		return 1
	}
	return 0
}

func printJSON(v any) {
	b, _ := json.Marshal(v)
	os.Stdout.Write(append(b, '\n'))
}

// senderResult is the sender's result line.
type senderResult struct {
	Type        string `json:"type"`
	OK          bool   `json:"ok"`
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256"`
	Segments    uint64 `json:"segments"`
	Retransmits uint64 `json:"retransmits"`
	WireBytes   uint64 `json:"wire_bytes"`
}

// sendFile writes the size and the file's bytes to w, hashing them as it
// reads, and returns the hash.
func sendFile(w io.Writer, path string) (int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(st.Size()))
	if _, err := w.Write(hdr[:]); err != nil {
		return 0, nil, err
	}
	h := sha256.New()
	br := bufio.NewReaderSize(f, chunk)
	buf := make([]byte, chunk)
	var n int64
	for {
		m, rerr := io.ReadFull(br, buf)
		if m > 0 {
			h.Write(buf[:m])
			if _, err := w.Write(buf[:m]); err != nil {
				return n, nil, err
			}
			n += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return n, nil, rerr
		}
	}
	if n != st.Size() {
		return n, nil, fmt.Errorf("read %d bytes of a %d-byte file", n, st.Size())
	}
	return n, h.Sum(nil), nil
}

// readVerdict reads the receiver's SHA-256 and compares it with want.
func readVerdict(r io.Reader, want []byte) error {
	var got [32]byte
	if _, err := io.ReadFull(r, got[:]); err != nil {
		return fmt.Errorf("no answer from the receiver: %w", err)
	}
	if string(got[:]) != string(want) {
		return fmt.Errorf("the receiver saved bytes with sha256 %x, sent %x", got, want)
	}
	return nil
}

// receiveFile reads the size and the bytes from r into a temporary file
// next to out, hashing them, syncs and renames it to out, and returns the
// hash.
func receiveFile(r io.Reader, out string) ([]byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading the size: %w", err)
	}
	size := int64(binary.BigEndian.Uint64(hdr[:]))
	if size < 0 {
		return nil, fmt.Errorf("bad size %d", size)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".part-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := copyHashed(bw, h, r, size); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, err
	}
	tmp = nil
	sum := h.Sum(nil)
	printJSON(map[string]any{"type": "saved", "bytes": size, "sha256": hex.EncodeToString(sum), "output": out})
	return sum, nil
}

// copyHashed copies exactly n bytes from r to w and h, a chunk at a time.
func copyHashed(w io.Writer, h hash.Hash, r io.Reader, n int64) error {
	buf := make([]byte, chunk)
	for n > 0 {
		m, err := r.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 {
			h.Write(buf[:m])
			if _, werr := w.Write(buf[:m]); werr != nil {
				return werr
			}
			n -= int64(m)
		}
		if err != nil && n > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("receiving: %w with %d bytes to go", err, n)
		}
	}
	return nil
}

// quicConfig is quic-go's configuration: its defaults (flow control
// windows that grow to 6 MiB per stream, 15 MiB per connection; its NewReno
// congestion control), with the CLI's idle timeout.
func quicConfig() *quic.Config {
	return &quic.Config{MaxIdleTimeout: 15 * time.Second, HandshakeIdleTimeout: 5 * time.Second}
}

func quicRecv(ctx context.Context, o *childOpts) error {
	cert, err := tls.LoadX509KeyPair(o.certFile, o.keyPEM)
	if err != nil {
		return err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}
	ln, err := quic.ListenAddr("127.0.0.1:0", tc, quicConfig())
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Printf("ready %s\n", ln.Addr())
	conn, err := ln.Accept(ctx)
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	st, err := conn.AcceptStream(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { st.CancelRead(1); st.CancelWrite(1) })
	defer stop()
	sum, err := receiveFile(st, o.out)
	if err != nil {
		return err
	}
	if _, err := st.Write(sum); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	// Stay until the sender has the answer and closes, or a few seconds.
	wait, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	select {
	case <-conn.Context().Done():
	case <-wait.Done():
	}
	return nil
}

func quicSend(ctx context.Context, o *childOpts) error {
	pem, err := os.ReadFile(o.certFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return errors.New("no certificate in " + o.certFile)
	}
	tc := &tls.Config{RootCAs: roots, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}
	conn, err := quic.DialAddr(ctx, o.addr, tc, quicConfig())
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { st.CancelRead(1); st.CancelWrite(1) })
	defer stop()
	n, sum, err := sendFile(st, o.file)
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	if err := readVerdict(st, sum); err != nil {
		return err
	}
	cs := conn.ConnectionStats()
	printJSON(senderResult{Type: "result", OK: true, Bytes: n, SHA256: hex.EncodeToString(sum),
		Segments: cs.PacketsSent, Retransmits: cs.PacketsLost, WireBytes: cs.BytesSent})
	return nil
}

// sockbuf is the socket buffer size asked for on both kcp-go sides (as
// kcptun's default, and what udpchat asks for).
const sockbuf = 4 << 20

// tuneKCP sets kcptun's "fast3" profile: nodelay 1, interval 10 ms, resend
// 2, nc 1 (no congestion window), stream mode, window 1024 both ways.
func tuneKCP(s *kcp.UDPSession) {
	//lint:ignore SA1019 kcptun still sets it: without it every 64 KiB write ends in a short segment
	s.SetStreamMode(true)
	s.SetWriteDelay(false)
	s.SetNoDelay(1, 10, 2, 1)
	s.SetWindowSize(1024, 1024)
	s.SetACKNoDelay(false)
}

func kcpRecv(ctx context.Context, o *childOpts) error {
	ln, err := kcp.ListenWithOptions("127.0.0.1:0", nil, 0, 0)
	if err != nil {
		return err
	}
	defer ln.Close()
	_ = ln.SetReadBuffer(sockbuf)
	_ = ln.SetWriteBuffer(sockbuf)
	_ = ln.SetDeadline(o.until)
	fmt.Printf("ready %s\n", ln.Addr())
	s, err := ln.AcceptKCP()
	if err != nil {
		return err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	tuneKCP(s)
	_ = s.SetDeadline(o.until)
	sum, err := receiveFile(s, o.out)
	if err != nil {
		return err
	}
	if _, err := s.Write(sum); err != nil {
		return err
	}
	// KCP has no close handshake: stay until the sender says it has the
	// answer (one byte), or a few seconds.
	_ = s.SetReadDeadline(earliest(o.until, time.Now().Add(3*time.Second)))
	var bye [1]byte
	_, _ = s.Read(bye[:])
	return nil
}

func kcpSend(ctx context.Context, o *childOpts) error {
	s, err := kcp.DialWithOptions(o.addr, nil, 0, 0)
	if err != nil {
		return err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	tuneKCP(s)
	_ = s.SetReadBuffer(sockbuf)
	_ = s.SetWriteBuffer(sockbuf)
	_ = s.SetDeadline(o.until)
	n, sum, err := sendFile(s, o.file)
	if err != nil {
		return err
	}
	if err := readVerdict(s, sum); err != nil {
		return err
	}
	sn := kcp.DefaultSnmp.Copy()
	printJSON(senderResult{Type: "result", OK: true, Bytes: n, SHA256: hex.EncodeToString(sum),
		Segments: sn.OutSegs, Retransmits: sn.RetransSegs, WireBytes: sn.OutBytes})
	// Tell the receiver it may go, and linger a moment so that KCP can
	// repeat that byte if the link loses it.
	if _, err := s.Write([]byte{1}); err == nil {
		_ = s.SetReadDeadline(earliest(o.until, time.Now().Add(300*time.Millisecond)))
		var b [1]byte
		_, _ = s.Read(b[:])
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
