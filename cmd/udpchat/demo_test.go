package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -update rewrites the golden files: go test ./cmd/udpchat -run TestDemoGolden -update
var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var goldenDir = filepath.Join("..", "..", "testdata", "golden")

// TestDemoGolden runs each scenario with its default seed and compares
// the text with a golden file: the same seed gives the same strip,
// counters and words on every run.
func TestDemoGolden(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	for _, sc := range []string{"", "loss", "burst", "reorder", "duplicate", "boundaries", "fragments"} {
		name := sc
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"demo"}
			if sc != "" {
				args = append(args, sc)
			}
			code, out, errs := runCLI(t, "", args...)
			if code != 0 {
				t.Fatalf("udpchat %s: exit %d: %s", strings.Join(args, " "), code, errs)
			}
			path := filepath.Join(goldenDir, "demo-"+name+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("udpchat %s differs from %s (run with -update if the change is intended):\n%s",
					strings.Join(args, " "), path, lineDiff(string(want), out))
			}
		})
	}
}

func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("- " + w + "\n+ " + g + "\n")
		}
	}
	return b.String()
}

// jsonLines decodes JSON lines into maps.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("bad JSON: %v\n%s", err, out)
		}
		objs = append(objs, m)
	}
	return objs
}

func byType(objs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["type"] == typ {
			out = append(out, o)
		}
	}
	return out
}

func TestDemoJSONReconciles(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--json"},
		{"demo", "--json", "--seed", "9", "--count", "500", "--loss", "20%", "--dup", "10%", "--reorder", "10%"},
		{"demo", "--json", "--corrupt", "10%", "--count", "300"},
		{"demo", "--json", "--delay", "2ms", "--jitter", "2ms", "--jitter-reorders", "--count", "300"},
	} {
		code, out, errs := runCLI(t, "", args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errs)
		}
		objs := jsonLines(t, out)
		sums, links, recs := byType(objs, "summary"), byType(objs, "link"), byType(objs, "reconcile")
		if len(sums) != 1 || len(links) != 1 || len(recs) != 1 {
			t.Fatalf("%q: %d summaries, %d links, %d reconciles; want exactly one of each", args, len(sums), len(links), len(recs))
		}
		s, l, r := sums[0], links[0], recs[0]
		if r["ok"] != true {
			t.Errorf("%q: does not reconcile: %v", args, r["problems"])
		}
		lostSeqs := len(r["lost_seqs"].([]any))
		trailing := int(r["trailing_lost"].(float64))
		if int(s["lost"].(float64)) != lostSeqs-trailing {
			t.Errorf("%q: receiver lost %v, link lost seqs %d minus %d trailing", args, s["lost"], lostSeqs, trailing)
		}
		if l["corrupted"].(float64) == 0 {
			// without corruption every counter matches the link's exactly
			if s["received"] != l["out"] || s["duplicates"] != l["duplicated"] || float64(lostSeqs) != l["dropped"] {
				t.Errorf("%q: receiver %v vs link %v", args, s, l)
			}
		}
		for _, k := range []string{"peer", "received", "unique", "expected", "lost", "duplicates", "reordered", "malformed", "jitter_ms"} {
			if _, ok := s[k]; !ok {
				t.Errorf("%q: summary lacks %q: %v", args, k, s)
			}
		}
	}
}

func TestDemoDefaultShowsEverything(t *testing.T) {
	code, out, _ := runCLI(t, "", "demo", "--json")
	if code != 0 {
		t.Fatal(out)
	}
	marks := byType(jsonLines(t, out), "strip")[0]["marks"].(string)
	for _, m := range []string{".", "x", "<", "+"} {
		if !strings.Contains(marks, m) {
			t.Errorf("the default demo's strip lacks %q: %s", m, marks)
		}
	}
	if len(marks) != 200 {
		t.Errorf("strip has %d marks, want 200", len(marks))
	}
}

func TestDemoSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.svg")
	code, out, errs := runCLI(t, "", "demo", "--json", "--svg", path)
	if code != 0 {
		t.Fatal(errs)
	}
	objs := jsonLines(t, out)
	sum := byType(objs, "summary")[0]
	lost := len(byType(objs, "reconcile")[0]["lost_seqs"].([]any))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// it parses as XML, and has one mark per arrival and per lost seq
	dec := xml.NewDecoder(bytes.NewReader(b))
	arrivals, lostMarks, root := 0, 0, ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			for _, a := range se.Attr {
				if a.Name.Local == "class" && strings.HasPrefix(a.Value, "arrival") {
					arrivals++
				}
				if a.Name.Local == "class" && a.Value == "lost" {
					lostMarks++
				}
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	if arrivals != int(sum["received"].(float64)) || lostMarks != lost {
		t.Errorf("SVG has %d arrival marks and %d lost marks; want %v and %d", arrivals, lostMarks, sum["received"], lost)
	}
	// the golden plot in testdata (shown in README) is this run's
	golden := filepath.Join(goldenDir, "demo-default.svg")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(golden); err != nil || !bytes.Equal(want, b) {
		t.Errorf("the SVG differs from %s (run with -update if intended)", golden)
	}
}

func TestDemoBoundaries(t *testing.T) {
	code, out, errs := runCLI(t, "", "demo", "boundaries", "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	objs := jsonLines(t, out)
	b, tr := byType(objs, "boundaries"), byType(objs, "truncation")
	if len(b) != 1 || len(tr) != 1 {
		t.Fatalf("want one boundaries and one truncation object:\n%s", out)
	}
	writes, tcp, udp := b[0]["writes"].(float64), b[0]["tcp_reads"].(float64), b[0]["udp_datagrams"].(float64)
	if !(tcp < writes) || udp != writes {
		t.Errorf("writes %v, TCP reads %v, UDP datagrams %v: want fewer TCP reads than writes and one datagram per write", writes, tcp, udp)
	}
	if tr[0]["udp_truncated"] != true || tr[0]["udp_read_bytes"].(float64) != tr[0]["buffer_bytes"].(float64) {
		t.Errorf("truncation: %v", tr[0])
	}
	var sum float64
	for _, n := range tr[0]["tcp_reads"].([]any) {
		sum += n.(float64)
	}
	if sum != tr[0]["datagram_bytes"].(float64) {
		t.Errorf("TCP reads add up to %v, want all %v bytes", sum, tr[0]["datagram_bytes"])
	}
}

func TestDemoErrors(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "nosuch"}, {"demo", "--count", "0"}, {"demo", "--loss", "2"}, {"demo", "all", "--svg", "x.svg"}, {"demo", "a", "b"},
	} {
		if code, _, errs := runCLI(t, "", args...); code != 2 {
			t.Errorf("%q: exit %d (%s), want 2", args, code, errs)
		}
	}
}

func TestDemoReliable(t *testing.T) {
	code, out, errs := runCLI(t, "", "demo", "reliable", "--json", "--loss", "20%")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	objs := jsonLines(t, out)
	rel := byType(objs, "reliable")
	if len(rel) != 1 {
		t.Fatalf("want one reliable object:\n%s", out)
	}
	r := rel[0]
	if r["delivered"] != r["messages"] || r["in_order"] != true {
		t.Errorf("arq delivered %v of %v, in order %v", r["delivered"], r["messages"], r["in_order"])
	}
	if r["retransmits"].(float64) == 0 {
		t.Error("a 20%-loss link needed no retransmission?")
	}
	// the raw run on the same link lost some
	if s := byType(objs, "summary")[0]; s["lost"].(float64) == 0 {
		t.Errorf("the raw run lost nothing: %v", s)
	}
}

// TestDemoReliableSameSeedSameRun: the arq half runs in virtual time, so
// the same seed prints the same text, timings included, and another seed
// another.
func TestDemoReliableSameSeedSameRun(t *testing.T) {
	run := func(seed string) string {
		code, out, errs := runCLI(t, "", "demo", "reliable", "--seed", seed, "--loss", "10%")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		_, arqHalf, _ := strings.Cut(out, "Through arq")
		return arqHalf
	}
	a, b, c := run("3"), run("3"), run("4")
	if a != b {
		t.Errorf("seed 3 twice gave two runs:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("seeds 3 and 4 gave the same run:\n%s", a)
	}
	if !strings.Contains(a, "(virtual)") {
		t.Errorf("no virtual time in:\n%s", a)
	}
	// and the help (so the man page) says so, as README does
	code, help, _ := runCLI(t, "", "demo", "--help")
	if code != 0 || !strings.Contains(help, "virtual time") || strings.Contains(help, "differs") {
		t.Errorf("demo --help does not say that demo reliable's arq half is the same for the same seed:\n%s", help)
	}
}
