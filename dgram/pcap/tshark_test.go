package pcap

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/nstest"
)

// tsharkFields runs tshark on the capture at path with checksum
// validation on and returns, per frame, the requested fields.
func tsharkFields(t *testing.T, path string, fields ...string) [][]string {
	t.Helper()
	tshark := nstest.NeedTool(t, "tshark")
	args := []string{"-r", path, "-n", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=/t"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

// TestTshark writes datagrams of both families, both directions and two
// interfaces, and checks that tshark decodes every address, port, length,
// TTL, timestamp, direction and comment, and validates every checksum.
func TestTshark(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC)
	pkts := samplePackets(t0)
	path := filepath.Join(t.TempDir(), "sample.pcapng")
	if err := os.WriteFile(path, writeSample(t, pkts), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := tsharkFields(t, path, "frame.interface_id", "frame.interface_name", "frame.packet_flags_direction", "frame.comment",
		"ip.src", "ipv6.src", "udp.srcport", "ip.dst", "ipv6.dst", "udp.dstport", "udp.length",
		"udp.checksum.status", "ip.checksum.status", "ip.ttl", "ipv6.hlim", "frame.time_epoch", "ip.flags.df", "data.len")
	if len(rows) != len(pkts) {
		t.Fatalf("tshark read %d frames, we wrote %d", len(rows), len(pkts))
	}
	names := []string{"one", "two"}
	for i, r := range rows {
		p := pkts[i]
		src, dst, _ := Families(p.Src, p.Dst)
		ttl := p.TTL
		if ttl == 0 {
			ttl = DefaultTTL
		}
		dir := map[Direction]string{In: "0x00000001", Out: "0x00000002"}[p.Dir]
		want := map[int]string{
			0: strconv.Itoa(p.Interface), 1: names[p.Interface], 2: dir, 3: p.Comment,
			6: strconv.Itoa(int(src.Port())), 9: strconv.Itoa(int(dst.Port())),
			10: strconv.Itoa(UDPHeaderLen + len(p.Payload)),
			11: "1", // UDP checksum good
			15: fmt.Sprintf("%d.%09d", p.Time.Unix(), p.Time.Nanosecond()),
		}
		if src.Addr().Is4() {
			want[4], want[7], want[12], want[13] = src.Addr().String(), dst.Addr().String(), "1", strconv.Itoa(int(ttl))
			want[16] = map[bool]string{false: "0", true: "1"}[p.DF]
		} else {
			want[5], want[8], want[14] = src.Addr().String(), dst.Addr().String(), strconv.Itoa(int(ttl))
		}
		if len(p.Payload) > 0 {
			want[17] = strconv.Itoa(len(p.Payload))
		}
		for col, w := range want {
			if col >= len(r) || r[col] != w {
				got := ""
				if col < len(r) {
					got = r[col]
				}
				t.Errorf("frame %d, field %d: tshark says %q, want %q (row %q)", i+1, col, got, w, r)
			}
		}
	}
}

// TestTsharkFragments writes a 9000-byte datagram as the 7 fragments a
// 1500-byte path carries: tshark reassembles them into one UDP datagram;
// without one of them, it cannot.
func TestTsharkFragments(t *testing.T) {
	payload := bytes.Repeat([]byte("fragile "), 1125) // 9000 bytes
	pkt, err := AppendUDP(nil, v4a, v4b, payload, IPOptions{ID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	frags, err := FragmentIPv4(nil, pkt, 1500)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) != 7 {
		t.Fatalf("%d fragments, want 7", len(frags))
	}
	write := func(skip int) string {
		path := filepath.Join(t.TempDir(), "frags.pcapng")
		w, err := Create(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range frags {
			if i == skip {
				continue
			}
			if err := w.WriteIP(time.Unix(100, int64(i)*1000), f, 0, Out, fmt.Sprintf("fragment %d of 7", i+1)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// All 7: one frame carries the reassembled datagram.
	rows := tsharkFields(t, write(-1), "ip.frag_offset", "ip.flags.mf", "udp.length", "udp.checksum.status", "frame.comment")
	if len(rows) != 7 {
		t.Fatalf("tshark read %d frames, want 7", len(rows))
	}
	udps := 0
	for i, r := range rows {
		wantOff := strconv.Itoa(i * 1480 / 8) // tshark shows 8-byte units
		if r[0] != wantOff {
			t.Errorf("fragment %d: offset %s, want %s", i+1, r[0], wantOff)
		}
		if r[2] != "" {
			udps++
			if r[2] != "9008" || r[3] != "1" {
				t.Errorf("reassembled: UDP length %s checksum status %s, want 9008 and 1 (good)", r[2], r[3])
			}
		}
		if want := fmt.Sprintf("fragment %d of 7", i+1); r[4] != want {
			t.Errorf("frame %d comment %q, want %q", i+1, r[4], want)
		}
	}
	if udps != 1 {
		t.Errorf("tshark reassembled %d UDP datagrams from 7 fragments, want 1", udps)
	}
	// Without fragment 4: no datagram.
	rows = tsharkFields(t, write(3), "frame.number", "udp.length")
	for _, r := range rows {
		if len(r) > 1 && r[1] != "" {
			t.Errorf("tshark reassembled a datagram from 6 of 7 fragments: %q", r)
		}
	}
	if len(rows) != 6 {
		t.Errorf("tshark read %d frames, want 6", len(rows))
	}
}
