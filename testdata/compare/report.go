package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// result is one link and peer over all runs: medians of the runs that
// succeeded (for an even count, the mean of the middle two).
type result struct {
	Type        string   `json:"type"`
	Link        string   `json:"link"`
	Peer        string   `json:"peer"`
	Runs        int      `json:"runs"`
	Failed      int      `json:"failed"`
	MBps        *float64 `json:"mb_per_s"`
	Seconds     *float64 `json:"seconds"`
	Segments    *float64 `json:"segments"`
	Retransmits *float64 `json:"retransmits"`
	Spurious    *float64 `json:"spurious"`
	WirePerByte *float64 `json:"wire_per_file_byte"`
}

// linkSummary holds a link's ratios, udpchat's MB/s over each peer's.
type linkSummary struct {
	Type     string   `json:"type"`
	Link     string   `json:"link"`
	OverQUIC *float64 `json:"udpchat_over_quic_go"`
	OverKCP  *float64 `json:"udpchat_over_kcp_go"`
	results  map[string]*result
	label    string
}

func median(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &m
}

// summarize gathers the runs into results and ratios, in the order of the
// links and peers that ran.
func summarize(runs []*runResult) []*linkSummary {
	var out []*linkSummary
	for _, l := range allLinks {
		ls := &linkSummary{Type: "link", Link: l.name, label: l.label, results: map[string]*result{}}
		for _, p := range allPeers {
			r := &result{Type: "result", Link: l.name, Peer: p}
			var mbps, secs, segs, retx, spur, wire []float64
			spurKnown := true
			for _, x := range runs {
				if x.Link != l.name || x.Peer != p {
					continue
				}
				r.Runs++
				if !x.OK {
					r.Failed++
					continue
				}
				mbps, secs = append(mbps, x.MBps), append(secs, x.Seconds)
				if x.Segments != nil {
					segs = append(segs, float64(*x.Segments))
				}
				if x.Retransmits != nil {
					retx = append(retx, float64(*x.Retransmits))
				}
				if x.Spurious != nil {
					spur = append(spur, float64(*x.Spurious))
				} else {
					spurKnown = false
				}
				if x.WireBytes != nil && x.Bytes > 0 {
					wire = append(wire, float64(*x.WireBytes)/float64(x.Bytes))
				}
			}
			if r.Runs == 0 {
				continue
			}
			r.MBps, r.Seconds, r.Segments, r.Retransmits, r.WirePerByte = median(mbps), median(secs), median(segs), median(retx), median(wire)
			if spurKnown {
				r.Spurious = median(spur)
			}
			ls.results[p] = r
		}
		if len(ls.results) == 0 {
			continue
		}
		ls.OverQUIC = ratio(ls.results[peerUdpchat], ls.results[peerQUIC])
		ls.OverKCP = ratio(ls.results[peerUdpchat], ls.results[peerKCP])
		out = append(out, ls)
	}
	return out
}

func ratio(a, b *result) *float64 {
	if a == nil || b == nil || a.MBps == nil || b.MBps == nil || *b.MBps == 0 {
		return nil
	}
	r := *a.MBps / *b.MBps
	return &r
}

func countRuns(runs []*runResult) int { return len(runs) }

func countFailures(runs []*runResult) int {
	n := 0
	for _, r := range runs {
		if !r.OK {
			n++
		}
	}
	return n
}

// writeJSON prints the configuration, every run, every result and every
// link's ratios, one JSON object a line.
func writeJSON(w io.Writer, in info, runs []*runResult) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(in); err != nil {
		return err
	}
	for _, r := range runs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	for _, ls := range summarize(runs) {
		for _, p := range allPeers {
			if r := ls.results[p]; r != nil {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		}
		if err := enc.Encode(ls); err != nil {
			return err
		}
	}
	return nil
}

// saveJSON writes the JSON lines to a file.
func saveJSON(path string, in info, runs []*runResult) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-save: %w", err)
	}
	if err := writeJSON(f, in, runs); err != nil {
		f.Close()
		return fmt.Errorf("-save: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-save: %w", err)
	}
	return nil
}

// writeMarkdown prints the table.
func writeMarkdown(w io.Writer, in info, all []*runResult) error {
	var b strings.Builder
	runs := "one run"
	if in.Runs > 1 {
		runs = fmt.Sprintf("median of %d runs", in.Runs)
	}
	fmt.Fprintf(&b, "%s through one `udpchat proxy` per run (seed %d), %s; MB/s = 10^6 bytes of file a second (%s, %d CPUs, %s).\n",
		sizeText(in.Size), in.Seed, runs, in.Date.Format("2006-01-02"), in.CPUs, in.Go)
	fmt.Fprintf(&b, "udpchat %s; quic-go %s (one stream, TLS 1.3); kcp-go %s (fast3: nodelay 1, interval 10, resend 2, nc 1; window 1024; no FEC, no crypt).\n\n",
		in.Udpchat, in.QUICGo, in.KCPGo)
	b.WriteString("| link | udpchat | quic-go | kcp-go | udpchat / quic-go | udpchat / kcp-go | udpchat retransmits (needless) of segments | wire bytes per file byte: udpchat, quic-go, kcp-go |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, ls := range summarize(all) {
		u := ls.results[peerUdpchat]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s, %s, %s |\n", ls.label,
			rate(u), rate(ls.results[peerQUIC]), rate(ls.results[peerKCP]),
			times(ls.OverQUIC), times(ls.OverKCP), retransmits(u),
			perByte(u), perByte(ls.results[peerQUIC]), perByte(ls.results[peerKCP]))
	}
	if failed := countFailures(all); failed > 0 {
		fmt.Fprintf(&b, "\nFailed transfers (%d of %d):\n\n", failed, len(all))
		for _, r := range all {
			if !r.OK {
				fmt.Fprintf(&b, "- %s, %s, run %d: %s\n", r.Link, r.Peer, r.Run, r.Error)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// rate is a peer's MB/s cell.
func rate(r *result) string {
	switch {
	case r == nil:
		return "-"
	case r.MBps == nil:
		return fmt.Sprintf("failed (%d of %d)", r.Failed, r.Runs)
	}
	var s string
	switch x := *r.MBps; {
	case x >= 100:
		s = fmt.Sprintf("%.0f", x)
	case x >= 10:
		s = fmt.Sprintf("%.1f", x)
	default:
		s = fmt.Sprintf("%.2f", x)
	}
	if r.Failed > 0 {
		s += fmt.Sprintf(" (%d of %d failed)", r.Failed, r.Runs)
	}
	return s
}

func times(x *float64) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fx", *x)
}

func retransmits(r *result) string {
	if r == nil || r.Retransmits == nil || r.Segments == nil {
		return "-"
	}
	sp := "-"
	if r.Spurious != nil {
		sp = commas(*r.Spurious)
	}
	return fmt.Sprintf("%s (%s) of %s", commas(*r.Retransmits), sp, commas(*r.Segments))
}

func perByte(r *result) string {
	if r == nil || r.WirePerByte == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *r.WirePerByte)
}

// commas prints a count with thousands separators (a median may end in .5).
func commas(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	if x != float64(int64(x)) {
		s = fmt.Sprintf("%.1f", x)
	}
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}
