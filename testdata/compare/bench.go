package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// bench holds what every transfer of a comparison shares.
type bench struct {
	o       *options
	log     io.Writer
	dir     string // working directory: binary, file, certificate, outputs
	udpchat string // the udpchat binary
	self    string // this program, started again in a peer role
	input   string // the file every transfer sends
	sum     string // its SHA-256, hex
	cert    string // PEM certificate and key for quic-go
	key     string
	info    info
}

// info describes a comparison, for the table's heading and the JSON.
type info struct {
	Type    string    `json:"type"`
	Date    time.Time `json:"date"`
	Size    int64     `json:"size"`
	Runs    int       `json:"runs"`
	Seed    uint64    `json:"seed"`
	Timeout string    `json:"timeout"`
	Udpchat string    `json:"udpchat"` // the commit, or the binary's path
	QUICGo  string    `json:"quic_go"`
	KCPGo   string    `json:"kcp_go"`
	Go      string    `json:"go"`
	CPUs    int       `json:"cpus"`
}

func newBench(ctx context.Context, o *options, log io.Writer) (_ *bench, err error) {
	b := &bench{o: o, log: log}
	if b.self, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("cannot find this program to start its peers: %w", err)
	}
	if b.dir, err = os.MkdirTemp("", "udpchat-compare-*"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	b.info = info{Type: "config", Date: time.Now().UTC().Truncate(time.Second), Size: o.size, Runs: o.runs,
		Seed: o.seed, Timeout: o.timeout.String(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		CPUs: runtime.NumCPU()}
	b.info.QUICGo, b.info.KCPGo = depVersion("github.com/quic-go/quic-go"), depVersion("github.com/xtaci/kcp-go/v5")
	if b.udpchat, b.info.Udpchat, err = buildUdpchat(ctx, o, b.dir, log); err != nil {
		return nil, err
	}
	b.input = filepath.Join(b.dir, "input.bin")
	if b.sum, err = writeInput(b.input, o.size, o.seed); err != nil {
		return nil, err
	}
	b.cert, b.key = filepath.Join(b.dir, "cert.pem"), filepath.Join(b.dir, "key.pem")
	if err := writeCert(b.cert, b.key); err != nil {
		return nil, err
	}
	return b, nil
}

// close removes the working directory, unless -keep.
func (b *bench) close() {
	if b.dir == "" {
		return
	}
	if b.o.keep {
		fmt.Fprintf(b.log, "kept %s\n", b.dir)
		return
	}
	os.RemoveAll(b.dir)
}

// depVersion is the version of a module this program was built with.
func depVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "?"
}

// buildUdpchat builds ./cmd/udpchat of o.root into dir, or takes -udpchat.
// It returns the binary and what to call it in the table (the commit).
func buildUdpchat(ctx context.Context, o *options, dir string, log io.Writer) (bin, desc string, err error) {
	if o.udpchat != "" {
		bin, err := filepath.Abs(o.udpchat)
		if err != nil {
			return "", "", err
		}
		if _, err := os.Stat(bin); err != nil {
			return "", "", fmt.Errorf("-udpchat: %w", err)
		}
		return bin, bin, nil
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return "", "", err
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(mod), "module github.com/udpchat/udpchat\n") {
		return "", "", fmt.Errorf("-root %s is not the udpchat repository (no go.mod of module github.com/udpchat/udpchat); give -root or -udpchat", o.root)
	}
	bin = filepath.Join(dir, "udpchat")
	fmt.Fprintf(log, "building udpchat from %s\n", root)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/udpchat")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("building udpchat: %v\n%s", err, out)
	}
	desc = "built from " + root
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		desc = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			desc += "+changes"
		}
	}
	return bin, desc, nil
}

// writeInput writes size seeded random bytes to path and returns their
// SHA-256.
func writeInput(path string, size int64, seed uint64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var key [32]byte
	for i := range 4 {
		for j := range 8 {
			key[i*8+j] = byte(seed >> (8 * j))
		}
		key[i*8] ^= byte(i)
	}
	r := rand.NewChaCha8(key)
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, r, size); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

// fileSum returns the SHA-256 of a file, hex.
func fileSum(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// runResult is one transfer.
type runResult struct {
	Type    string  `json:"type"`
	Link    string  `json:"link"`
	Peer    string  `json:"peer"`
	Run     int     `json:"run"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	MBps    float64 `json:"mb_per_s,omitempty"` // file bytes (10^6) per second
	Bytes   int64   `json:"bytes"`
	// What the sender reports: for udpchat, its --json summary (segments
	// are first transmissions of DATA); for quic-go, packets sent and
	// declared lost; for kcp-go, segments sent and retransmitted.
	Segments    *uint64 `json:"segments,omitempty"`
	Retransmits *uint64 `json:"retransmits,omitempty"`
	Spurious    *uint64 `json:"spurious,omitempty"`
	WireBytes   *uint64 `json:"wire_bytes,omitempty"` // UDP payload bytes the sender sent
	// udpchat's own goodput figure, when its summary has one (Mbit/s).
	GoodputMbps *float64 `json:"goodput_mbps,omitempty"`
	// The proxy's counters, in datagrams (none on a direct link).
	Proxy *proxyCounters `json:"proxy,omitempty"`
}

// proxyCounters are `udpchat proxy --json`'s link counters.
type proxyCounters struct {
	UpIn, UpOut, UpDropped       uint64
	DownIn, DownOut, DownDropped uint64
}

// MarshalJSON names the fields as the proxy does.
func (c proxyCounters) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]map[string]uint64{
		"up":   {"in": c.UpIn, "out": c.UpOut, "dropped": c.UpDropped},
		"down": {"in": c.DownIn, "out": c.DownOut, "dropped": c.DownDropped},
	})
}

// runAll runs every transfer: for each link, the runs in turn, and in each
// run every peer in turn, so that slow drifts of a shared machine spread
// over the peers alike.
func (b *bench) runAll(ctx context.Context) []*runResult {
	var all []*runResult
	for _, l := range b.o.links {
		for i := range b.o.runs {
			for _, p := range b.o.peers {
				if ctx.Err() != nil {
					return all
				}
				r := b.runOne(ctx, l, p, i+1)
				if ctx.Err() != nil && !r.OK {
					return all // interrupted: this run does not count
				}
				all = append(all, r)
				if r.OK {
					fmt.Fprintf(b.log, "%-10s %-8s run %d: %7.2f MB/s (%.2f s)\n", l.name, p, i+1, r.MBps, r.Seconds)
				} else {
					fmt.Fprintf(b.log, "%-10s %-8s run %d: FAILED: %s\n", l.name, p, i+1, r.Error)
				}
			}
		}
	}
	return all
}

var (
	reListening = regexp.MustCompile(`listening on (\S+)`)
	reProxying  = regexp.MustCompile(`proxying on (\S+)`)
	reReady     = regexp.MustCompile(`^ready (\S+)$`)
	reSummary   = regexp.MustCompile(`^\{.*"type":"summary".*$`)
	reResult    = regexp.MustCompile(`^\{.*"type":"result".*$`)
)

// runOne runs one transfer, bounded by -timeout.
func (b *bench) runOne(parent context.Context, l link, peer string, n int) *runResult {
	r := &runResult{Type: "run", Link: l.name, Peer: peer, Run: n}
	// The transfer must end within -timeout; the processes get a little
	// longer to exit after it did, and are killed when that runs out.
	procCtx, cancelProcs := context.WithTimeoutCause(parent, b.o.timeout+exitGrace,
		fmt.Errorf("%w %v after the transfer's deadline", errTimeout, exitGrace))
	defer cancelProcs()
	ctx, cancel := context.WithTimeoutCause(procCtx, b.o.timeout, fmt.Errorf("%w after %v", errTimeout, b.o.timeout))
	defer cancel()
	out := filepath.Join(b.dir, fmt.Sprintf("out-%s-%s-%d.bin", l.name, peer, n))
	defer os.Remove(out)
	if err := b.transfer(ctx, procCtx, l, peer, out, r); err != nil {
		r.Error = err.Error()
		return r
	}
	sum, size, err := fileSum(out)
	switch {
	case err != nil:
		r.Error = fmt.Sprintf("the receiver reported success but its file cannot be read: %v", err)
	case size != b.o.size || sum != b.sum:
		r.Error = fmt.Sprintf("the saved file differs: %d bytes, sha256 %s; sent %d bytes, sha256 %s", size, sum, b.o.size, b.sum)
	default:
		r.OK = true
		r.Bytes = size
		r.MBps = float64(size) / 1e6 / r.Seconds
	}
	return r
}

// exitGrace is how long the processes of a transfer that ended in time
// may take to exit.
const exitGrace = 15 * time.Second

// transfer starts the receiver, the proxy (unless the link is direct) and
// the sender, and fills r from what they print. The transfer must finish
// before ctx ends; the processes live until procCtx ends at most.
func (b *bench) transfer(ctx, procCtx context.Context, l link, peer, out string, r *runResult) (err error) {
	life := b.o.timeout + exitGrace
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.kill() // only those still running: a failed or timed-out run
		}
	}()
	// The receiver.
	var recv *proc
	var addr []string
	switch peer {
	case peerUdpchat:
		recv, err = startProc(procCtx, "udpchat listen", nil, b.udpchat, "listen", "127.0.0.1:0", "--reliable", "--output", out, "--json",
			"--timeout", life.String()) // if this program dies, it still ends
		if err != nil {
			return err
		}
		procs = append(procs, recv)
		addr, _, err = recv.waitLine(ctx, recv.stderr, reListening, "its address")
	default:
		recv, err = b.startChild(procCtx, peer, "recv", "-out", out, "-cert", b.cert, "-key", b.key)
		if err != nil {
			return err
		}
		procs = append(procs, recv)
		addr, _, err = recv.waitLine(ctx, recv.stdout, reReady, "its address")
	}
	if err != nil {
		return err
	}
	target := addr[1]
	// The link.
	var proxy *proc
	if l.args != nil {
		args := append([]string{"proxy", "-l", "127.0.0.1:0", "--to", target, "--seed", fmt.Sprint(b.o.seed), "--json",
			"--duration", life.String()}, l.args...)
		if proxy, err = startProc(procCtx, "udpchat proxy", nil, b.udpchat, args...); err != nil {
			return err
		}
		procs = append(procs, proxy)
		m, _, err := proxy.waitLine(ctx, proxy.stderr, reProxying, "its address")
		if err != nil {
			return err
		}
		target = m[1]
	}
	// The sender: the clock runs from its start to its result line.
	var send *proc
	var line []string
	var end time.Time
	switch peer {
	case peerUdpchat:
		if send, err = startProc(procCtx, "udpchat send", nil, b.udpchat, "send", target, "--file", b.input, "--json"); err != nil {
			return err
		}
		procs = append(procs, send)
		line, end, err = send.waitLine(ctx, send.stdout, reSummary, "its summary")
	default:
		if send, err = b.startChild(procCtx, peer, "send", "-addr", target, "-file", b.input, "-cert", b.cert); err != nil {
			return err
		}
		procs = append(procs, send)
		line, end, err = send.waitLine(ctx, send.stdout, reResult, "its result")
	}
	if err != nil {
		return err
	}
	r.Seconds = end.Sub(send.start).Seconds()
	if err := send.wait(procCtx); err != nil {
		return err
	}
	if err := parseSender(peer, line[0], r); err != nil {
		return err
	}
	if err := recv.wait(procCtx); err != nil {
		return err
	}
	if proxy != nil {
		proxy.interrupt()
		if err := proxy.waitInterrupted(procCtx); err != nil {
			return err
		}
		c, err := parseProxy(proxy.stdout.snapshot())
		if err != nil {
			return err
		}
		r.Proxy = c
	}
	return nil
}

// startChild starts this program again as a quic-go or kcp-go peer.
func (b *bench) startChild(ctx context.Context, peer, role string, args ...string) (*proc, error) {
	deadline, _ := ctx.Deadline()
	args = append([]string{"-peer", peer, "-role", role, "-until", deadline.Format(time.RFC3339Nano)}, args...)
	return startProc(ctx, peer+" "+role, []string{childEnv + "=1", "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=1"}, b.self, args...)
}

// parseSender reads the sender's result line into r.
func parseSender(peer, text string, r *runResult) error {
	var v struct {
		Segments    *uint64  `json:"segments"`
		Retransmits *uint64  `json:"retransmits"`
		Spurious    *uint64  `json:"spurious"`
		WireBytes   *uint64  `json:"wire_bytes"`
		GoodputMbps *float64 `json:"goodput_mbps"`
		OK          *bool    `json:"ok"`
		Error       string   `json:"error"`
	}
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return fmt.Errorf("%s's sender printed a summary that is not JSON: %v: %s", peer, err, text)
	}
	if v.OK != nil && !*v.OK {
		return fmt.Errorf("%s's sender: %s", peer, v.Error)
	}
	r.Segments, r.Retransmits, r.Spurious, r.WireBytes = v.Segments, v.Retransmits, v.Spurious, v.WireBytes
	r.GoodputMbps = v.GoodputMbps
	return nil
}

// parseProxy reads `udpchat proxy --json`'s link lines.
func parseProxy(lines []line) (*proxyCounters, error) {
	var c proxyCounters
	found := 0
	for _, l := range lines {
		var v struct {
			Type    string `json:"type"`
			Dir     string `json:"dir"`
			In      uint64 `json:"in"`
			Out     uint64 `json:"out"`
			Dropped uint64 `json:"dropped"`
		}
		if json.Unmarshal([]byte(l.text), &v) != nil || v.Type != "link" {
			continue
		}
		switch v.Dir {
		case "up":
			c.UpIn, c.UpOut, c.UpDropped = v.In, v.Out, v.Dropped
			found++
		case "down":
			c.DownIn, c.DownOut, c.DownDropped = v.In, v.Out, v.Dropped
			found++
		}
	}
	if found != 2 {
		return nil, errors.New("udpchat proxy --json did not print its two link lines")
	}
	return &c, nil
}
