package main

import (
	"math"
	"strings"
	"testing"
)

// TestDemoFragments checks the fragments scenario's numbers against each
// other: 7 packets per 9000-byte datagram on both sides, the same packets
// lost on both (same seed), a large datagram lost for every mark, and the
// amplification of loss that the scenario is about.
func TestDemoFragments(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "fragments", "--json"},
		{"demo", "fragments", "--json", "--seed", "7", "--count", "1000", "--loss", "10%"},
		{"demo", "fragments", "--json", "--loss", "0"},
		{"demo", "fragments", "--json", "--burst", "4", "--loss", "5%", "--dup", "5%", "--reorder", "5%"},
	} {
		code, out, errs := runCLI(t, "", args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errs)
		}
		objs := jsonLines(t, out)
		demo, large, small, sum := byType(objs, "demo"), byType(objs, "fragmented"), byType(objs, "small"), byType(objs, "summary")
		if len(demo) != 1 || len(large) != 1 || len(small) != 1 || len(sum) != 1 {
			t.Fatalf("%q: want one demo, fragmented, small and summary object:\n%s", args, out)
		}
		// DESIGN's demo contract: the link's counters in one {"type":"link"}
		// (one link: both halves draw the same decisions from the seed)
		links := byType(objs, "link")
		if len(links) != 1 {
			t.Fatalf("%q: %d link objects, want 1:\n%s", args, len(links), out)
		}
		if lk := links[0]; lk["in"] != large[0]["packets"] || lk["dropped"] != large[0]["packets_lost"] || lk["scenario"] != "fragments" {
			t.Errorf("%q: link %v, want the %v packets in and %v dropped of the fragmented half", args, lk, large[0]["packets"], large[0]["packets_lost"])
		}
		l, s := large[0], small[0]
		n := demo[0]["count"].(float64)
		if demo[0]["fragments_per_datagram"] != 7.0 || l["packets"] != 7*n || s["packets"] != 7*n || s["datagrams"] != 7*n {
			t.Errorf("%q: %v fragments, %v and %v packets, %v small datagrams; want 7, and 7 per datagram", args, demo[0]["fragments_per_datagram"], l["packets"], s["packets"], s["datagrams"])
		}
		if l["packets_lost"] != s["packets_lost"] {
			t.Errorf("%q: the same seed lost %v packets of one and %v of the other", args, l["packets_lost"], s["packets_lost"])
		}
		marks := l["marks"].(string)
		if lost := strings.Count(marks, "x"); float64(lost) != l["datagrams"].(float64)-l["delivered"].(float64) || len(marks) != int(n) {
			t.Errorf("%q: %d x marks of %d, %v of %v delivered", args, lost, len(marks), l["delivered"], l["datagrams"])
		}
		pl, dl, sl := sum[0]["packet_loss_pct"].(float64), sum[0]["datagram_loss_pct"].(float64), sum[0]["small_data_loss_pct"].(float64)
		if pl > 0 && !(dl > pl && dl > sl) {
			t.Errorf("%q: packet loss %.1f%%, datagram loss %.1f%%, small data loss %.1f%%: want fragmented datagrams to lose most", args, pl, dl, sl)
		}
		if pl == 0 && (dl != 0 || sl != 0 || l["delivered"] != n) {
			t.Errorf("%q: no packet lost, yet %v", args, sum[0])
		}
		if e, ok := sum[0]["expected_datagram_loss_pct"].(float64); ok && n >= 1000 && math.Abs(e-dl) > 5 {
			t.Errorf("%q: %.1f%% datagram loss, %.1f%% expected from (1-p)^7", args, dl, e)
		}
	}
	if code, _, _ := runCLI(t, "", "demo", "fragments", "--svg", "x.svg"); code != 2 {
		t.Errorf("demo fragments --svg: exit %d, want 2", code)
	}
}
