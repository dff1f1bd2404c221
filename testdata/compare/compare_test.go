package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the quic-go and kcp-go peers, as the
// program does: the comparison starts its own executable in a peer role.
func TestMain(m *testing.M) {
	if isChild() {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestSmoke sends 256 KiB with each peer over the clean link and through
// the proxy with 5% loss, and checks that every transfer arrived intact and
// reported what the table needs.
func TestSmoke(t *testing.T) {
	o, err := parseOptions([]string{"-size", "256K", "-runs", "1", "-links", "clean,loss", "-timeout", "60s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log strings.Builder
	b, err := newBench(ctx, o, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	runs := b.runAll(ctx)
	t.Log(log.String())
	if len(runs) != 6 {
		t.Fatalf("%d transfers ran, want 6 (2 links x 3 peers)", len(runs))
	}
	for _, r := range runs {
		if !r.OK {
			t.Errorf("%s %s: %s", r.Link, r.Peer, r.Error)
			continue
		}
		if r.Bytes != 256<<10 || r.MBps <= 0 {
			t.Errorf("%s %s: %d bytes at %v MB/s", r.Link, r.Peer, r.Bytes, r.MBps)
		}
		if r.WireBytes == nil || *r.WireBytes < uint64(r.Bytes) {
			t.Errorf("%s %s: wire bytes %v for a %d-byte file", r.Link, r.Peer, r.WireBytes, r.Bytes)
		}
		if r.Segments == nil || r.Retransmits == nil {
			t.Errorf("%s %s: no segment or retransmission count", r.Link, r.Peer)
		}
		if (r.Link == "loss") != (r.Proxy != nil) {
			t.Errorf("%s %s: proxy counters %+v", r.Link, r.Peer, r.Proxy)
		}
		if r.Proxy != nil && (r.Proxy.UpIn == 0 || r.Proxy.UpDropped == 0) {
			t.Errorf("%s %s: the 5%% loss proxy dropped %d of %d datagrams", r.Link, r.Peer, r.Proxy.UpDropped, r.Proxy.UpIn)
		}
	}
	var md strings.Builder
	if err := writeMarkdown(&md, b.info, runs); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + md.String())
	for _, l := range o.links {
		if !strings.Contains(md.String(), "| "+l.label+" | ") {
			t.Errorf("no row for %s in the table", l.name)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"16M": 16 << 20, "256K": 256 << 10, "1G": 1 << 30, "1000": 1000, "4MiB": 4 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1T", "99999999999G"} {
		if n, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, n)
		}
	}
}

func TestMedianAndCommas(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m == nil || *m != 2 {
		t.Errorf("median of 3 1 2 = %v", m)
	}
	if m := median([]float64{4, 1}); m == nil || *m != 2.5 {
		t.Errorf("median of 4 1 = %v", m)
	}
	if median(nil) != nil {
		t.Error("median of nothing is not nil")
	}
	for x, want := range map[float64]string{0: "0", 999: "999", 12034: "12,034", 1234567.5: "1,234,567.5"} {
		if got := commas(x); got != want {
			t.Errorf("commas(%v) = %q, want %q", x, got, want)
		}
	}
}
