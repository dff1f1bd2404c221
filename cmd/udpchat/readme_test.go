package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// README's examples cannot drift from what udpchat prints. Every example
// with output in README.md is tagged, on the line before its fenced block:
//
//	<!-- example NAME: testdata/script/FILE.txtar -->
//
// and that transcript builds the same text from real runs and compares it
// with the block (`readme NAME FILE`). A change in udpchat's output fails
// the test until README changes with it; after an intended change,
// `go test ./cmd/udpchat -run TestScripts -update` rewrites the blocks.
//
// The transcript commands that build an example:
//
//	term [-code N] [-show TEXT] [-stdin FILE] OUT PROG [ARGS...]
//	    runs PROG in the foreground with stdout and stderr merged, as a
//	    terminal shows them, and appends "$ TEXT" (default: the command
//	    line) and the output to the file OUT. The merged output is also
//	    the current stdout, for the usual assertions.
//	start -term OUT [-show TEXT] [-bg] [-ready REGEXP] NAME PROG [ARGS...]
//	    the same for a background process: "$ TEXT" now, its output when
//	    `await NAME` returns (with -bg, "TEXT &" and no output, as a job
//	    started with & in the same terminal). With -ready, start returns
//	    only once a line of output also matches REGEXP (for a process
//	    whose announcement comes before it is really ready).
//	show OUT LINE...
//	    appends lines of text (a comment, a line typed at a prompt).
//	waitfor NAME REGEXP
//	    waits until the background process NAME has printed a line that
//	    matches, before the transcript goes on (to signal it, say).
//	readme NAME [-sub OLD=NEW]... [-mask REGEXP]... [-vary REGEXP]... [-drop REGEXP]... FILE...
//	    compares README's example NAME with the files, concatenated.
//
// Before comparing, -sub replaces OLD (typically $L, a port the kernel
// chose) by what README shows (127.0.0.1:9000); then, on both sides, the
// parts that differ from run to run are masked: every decimal number
// (round-trip times, rates), every port of a loopback address, and
// whatever each -mask REGEXP matches, and every number in the lines that
// a -vary REGEXP matches. Other integers (counts, sizes) and all the words
// are compared exactly. A line of the output that a -drop REGEXP matches
// is left out first: for a line that a tool prints by chance, not by what
// udpchat did (strace's "???(" for a thread that exit ended mid-call). A line "..." in the README block stands for any
// number of lines, so that a long output can be shown as an excerpt (after
// -update, which writes the whole output, put the "..." back).

// exampleTagRE matches the tag before a README example.
var exampleTagRE = regexp.MustCompile(`^<!-- example ([a-z0-9-]+): (testdata/script/[a-z0-9_]+\.txtar) -->$`)

var readmePath = filepath.Join("..", "..", "README.md")

// readmeExample is one tagged fenced block of README.md.
type readmeExample struct {
	name, script string
	line         int // of the first line inside the fence, 1-based
	text         string
	start, end   int // byte offsets of the block's contents in README.md
}

// parseReadmeExamples finds the tagged examples of a README.
func parseReadmeExamples(readme []byte) (map[string]*readmeExample, error) {
	exs := map[string]*readmeExample{}
	lines := bytes.SplitAfter(readme, []byte("\n"))
	off := 0
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(string(lines[i]), "\n")
		off += len(lines[i])
		if !strings.HasPrefix(l, "<!-- example") {
			continue
		}
		m := exampleTagRE.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("README.md:%d: want <!-- example NAME: testdata/script/FILE.txtar -->, got %q", i+1, l)
		}
		if i+1 >= len(lines) || !strings.HasPrefix(string(lines[i+1]), "```") {
			return nil, fmt.Errorf("README.md:%d: the example tag must be followed by a fenced block", i+1)
		}
		fence := strings.TrimRight(string(lines[i+1]), "\n")
		fence = fence[:len(fence)-len(strings.TrimLeft(fence, "`"))]
		off += len(lines[i+1])
		ex := &readmeExample{name: m[1], script: m[2], line: i + 3, start: off}
		j := i + 2
		for ; j < len(lines); j++ {
			if strings.TrimRight(string(lines[j]), "\n") == fence {
				break
			}
			off += len(lines[j])
		}
		if j == len(lines) {
			return nil, fmt.Errorf("README.md:%d: example %s: the fenced block does not end", i+2, ex.name)
		}
		ex.end = off
		ex.text = string(readme[ex.start:ex.end])
		off += len(lines[j])
		i = j
		if exs[ex.name] != nil {
			return nil, fmt.Errorf("README.md:%d: example %s is tagged twice", i+1, ex.name)
		}
		exs[ex.name] = ex
	}
	return exs, nil
}

// readmeState is shared by the transcripts of one TestScripts run.
type readmeState struct {
	mu       sync.Mutex
	examples map[string]*readmeExample
	updates  map[string]string // -update: the new text of each example
	err      error
}

var readmeOnce struct {
	sync.Once
	st *readmeState
}

func readmeExamples() *readmeState {
	readmeOnce.Do(func() {
		st := &readmeState{updates: map[string]string{}}
		b, err := os.ReadFile(readmePath)
		if err == nil {
			st.examples, err = parseReadmeExamples(b)
		}
		st.err = err
		readmeOnce.st = st
	})
	return readmeOnce.st
}

// writeReadmeUpdates rewrites README.md's examples that -update collected.
func writeReadmeUpdates(t *testing.T) {
	st := readmeExamples()
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.updates) == 0 {
		return
	}
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	exs, err := parseReadmeExamples(b)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range st.updates {
		names = append(names, n)
	}
	// Replace from the end, so that earlier offsets stay valid.
	sort.Slice(names, func(i, j int) bool { return exs[names[i]].start > exs[names[j]].start })
	for _, n := range names {
		ex := exs[n]
		b = append(b[:ex.start:ex.start], append([]byte(st.updates[n]), b[ex.end:]...)...)
	}
	if err := os.WriteFile(readmePath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote %d README example(s): %s", len(names), strings.Join(names, ", "))
}

// Masks for the parts of an example that differ from run to run: ports
// the kernel chose, and (in maskText) decimal numbers, which are
// measurements: 0.197 ms, 12.5 Mbit/s.
var defaultMasks = []*regexp.Regexp{
	regexp.MustCompile(`(?:127\.0\.0\.\d+|\[::1\]|localhost):\d{1,5}`),
}

var (
	numberTokenRE = regexp.MustCompile(`[0-9][0-9.]*`)
	decimalRE     = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)
)

var (
	integerRE = regexp.MustCompile(`[0-9]+`)
	// countedRE finds a count and the word it counts, the word without
	// its plural ending (deliveries, delivery: deliver).
	countedRE = regexp.MustCompile(`[0-9]+( [a-z]+?)(?:ies|y|s)?\b`)
)

func maskText(s string, masks, vary []*regexp.Regexp) string {
	for _, re := range masks {
		s = re.ReplaceAllString(s, "\x00")
	}
	if len(vary) > 0 {
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			for _, re := range vary {
				if re.MatchString(l) {
					// the number and the plural it takes: "0 retransmissions"
					// and "1 retransmission" are the same line
					l = countedRE.ReplaceAllString(l, "\x00$1")
					lines[i] = integerRE.ReplaceAllString(l, "\x00")
					break
				}
			}
		}
		s = strings.Join(lines, "\n")
	}
	// A decimal number, but not a dotted address or version (1.2.3).
	return numberTokenRE.ReplaceAllStringFunc(s, func(tok string) string {
		n := strings.TrimRight(tok, ".")
		if decimalRE.MatchString(n) {
			return "\x00" + tok[len(n):]
		}
		return tok
	})
}

// cmdReadme runs `readme NAME [-sub OLD=NEW]... [-mask RE]... [-vary RE]... [-drop RE]... FILE...`.
func cmdReadme(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: readme NAME [-sub OLD=NEW]... [-mask REGEXP]... [-vary REGEXP]... [-drop REGEXP]... FILE...")
	}
	name := args[0]
	masks := append([]*regexp.Regexp(nil), defaultMasks...)
	var vary, drop []*regexp.Regexp
	var subs []string
	var files []string
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-sub", "-mask", "-vary", "-drop":
			if i+1 >= len(args) {
				ts.Fatalf("readme: %s needs a value", args[i])
			}
			v := args[i+1]
			if args[i] == "-sub" {
				old, nw, ok := strings.Cut(v, "=")
				if !ok || old == "" {
					ts.Fatalf("readme: -sub wants OLD=NEW, got %q", v)
				}
				subs = append(subs, old, nw)
			} else {
				re, err := regexp.Compile(v)
				ts.Check(err)
				switch args[i] {
				case "-mask":
					masks = append(masks, re)
				case "-vary":
					vary = append(vary, re)
				default:
					drop = append(drop, re)
				}
			}
			i++
		default:
			files = append(files, args[i])
		}
	}
	var sb strings.Builder
	for _, f := range files {
		sb.WriteString(ts.ReadFile(f))
	}
	got := dropLines(sb.String(), drop)
	if len(subs) > 0 {
		got = strings.NewReplacer(subs...).Replace(got)
	}
	st := readmeExamples()
	if st.err != nil {
		ts.Fatalf("reading README.md: %v", st.err)
	}
	ex := st.examples[name]
	if ex == nil {
		ts.Fatalf("README.md has no example tagged %q: put <!-- example %s: testdata/script/FILE.txtar --> before its fenced block", name, name)
	}
	if *update {
		st.mu.Lock()
		st.updates[name] = got
		st.mu.Unlock()
		return
	}
	w, g := maskText(ex.text, masks, vary), maskText(got, masks, vary)
	if w == g {
		return
	}
	if strings.Contains("\n"+w, "\n...\n") {
		if elidedMatch(strings.Split(w, "\n"), strings.Split(g, "\n")) {
			return
		}
		ts.Fatalf("README.md example %s (line %d) does not match what udpchat printed, its \"...\" lines standing for any lines (run with -update if the change is intended, then put the \"...\" back):\n%s\nprinted in full:\n%s",
			name, ex.line, ex.text, got)
	}
	ts.Fatalf("README.md example %s (line %d) differs from what udpchat printed (lines as README has them, then as printed; run with -update if the change is intended):\n%s\nprinted in full:\n%s",
		name, ex.line, maskedDiff(ex.text, got, w, g, ex.line), got)
}

// dropLines leaves out the lines of s that one of drop matches.
func dropLines(s string, drop []*regexp.Regexp) string {
	if len(drop) == 0 {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !slices.ContainsFunc(drop, func(re *regexp.Regexp) bool { return re.MatchString(strings.TrimSuffix(l, "\n")) }) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// elidedMatch matches lines against want, where a line "..." in want
// stands for any number of lines (an excerpt of a long output).
func elidedMatch(want, got []string) bool {
	memo := map[[2]int]bool{}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(want):
			r = j == len(got)
		case want[i] == "...":
			r = match(i+1, j) || j < len(got) && match(i, j+1)
		default:
			r = j < len(got) && want[i] == got[j] && match(i+1, j+1)
		}
		memo[k] = r
		return r
	}
	return match(0, 0)
}

// maskedDiff lists the lines that differ once masked, unmasked.
func maskedDiff(want, got, mw, mg string, line int) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	mwl, mgl := strings.Split(mw, "\n"), strings.Split(mg, "\n")
	at := func(l []string, i int) string {
		if i < len(l) {
			return l[i]
		}
		return "<none>"
	}
	var b strings.Builder
	for i := 0; i < max(len(mwl), len(mgl)); i++ {
		if at(mwl, i) != at(mgl, i) {
			fmt.Fprintf(&b, "README.md:%d\n- %s\n+ %s\n", line+i, at(wl, i), at(gl, i))
		}
	}
	return b.String()
}

// appendFile appends s to the file name of the script's work directory.
func appendFile(ts *testscript.TestScript, name, s string) {
	f, err := os.OpenFile(ts.MkAbs(name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	ts.Check(err)
	_, err = f.WriteString(s)
	ts.Check(err)
	ts.Check(f.Close())
}

// displayLine is the command line as README shows it: "$ " and the
// arguments, quoted as a shell needs them.
func displayLine(show string, args []string) string {
	if show != "" {
		return "$ " + show + "\n"
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return "$ " + strings.Join(q, " ") + "\n"
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=@%+[]") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cmdTerm runs `term [-code N] [-show TEXT] [-stdin FILE] OUT PROG [ARGS...]`.
func cmdTerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("term: use -code N, not !")
	}
	want, show, stdin := 0, "", ""
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if len(args) < 2 {
			ts.Fatalf("term: %s needs a value", args[0])
		}
		switch args[0] {
		case "-code":
			n, err := strconv.Atoi(args[1])
			ts.Check(err)
			want = n
		case "-show":
			show = args[1]
		case "-stdin":
			stdin = args[1]
		default:
			ts.Fatalf("term: unknown option %s", args[0])
		}
		args = args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf("usage: term [-code N] [-show TEXT] [-stdin FILE] OUT PROG [ARGS...]")
	}
	out := args[0]
	path, err := lookPath(ts, args[1])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = childEnv(append(os.Environ(), "PATH="+ts.Getenv("PATH")))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(ts.ReadFile(stdin))
	}
	// One pipe for both, as a terminal: the order of the lines is the
	// order of the writes.
	pr, pw, err := os.Pipe()
	ts.Check(err)
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		ts.Fatalf("term: %v", err)
	}
	merged, rerr := io.ReadAll(pr)
	pr.Close()
	err = cmd.Wait()
	ts.Check(rerr)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		ts.Fatalf("term: %v", err)
	}
	fmt.Fprint(ts.Stdout(), string(merged))
	if got := cmd.ProcessState.ExitCode(); got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
	appendFile(ts, out, displayLine(show, args[1:])+string(merged))
}

// cmdWaitFor runs `waitfor NAME REGEXP`: waits until the output of the
// background process NAME (stdout or stderr, as its lines come) matches
// REGEXP, for the moment to signal it.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfor NAME REGEXP")
	}
	p := getProc(ts, args[0])
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.After(readyTimeout)
	found := make(chan bool, 2)
	stop := make(chan time.Time)
	defer close(stop)
	for _, b := range []*lockedBuffer{&p.stdout, &p.stderr} {
		go func() {
			found <- b.waitFor(re, stop)
		}()
	}
	select {
	case <-found:
		// one matched (or was stopped: only when this returns)
	case <-deadline:
		ts.Fatalf("%s printed nothing matching %q within %v\nstdout:\n%s\nstderr:\n%s", args[0], args[1], readyTimeout, p.stdout.String(), p.stderr.String())
	}
}

// cmdShow runs `show OUT LINE...`.
func cmdShow(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: show OUT LINE...")
	}
	appendFile(ts, args[0], strings.Join(args[1:], "\n")+"\n")
}

// termOpts are start's options for README examples.
type termOpts struct {
	out, show string
	bg        bool
	ready     *regexp.Regexp
}

// parseStartOpts takes start's leading options off args.
func parseStartOpts(ts *testscript.TestScript, args []string) (*termOpts, []string) {
	var o *termOpts
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if o == nil {
			o = &termOpts{}
		}
		switch args[0] {
		case "-bg":
			o.bg = true
			args = args[1:]
			continue
		case "-term", "-show", "-ready":
			if len(args) < 2 {
				ts.Fatalf("start: %s needs a value", args[0])
			}
			switch args[0] {
			case "-term":
				o.out = args[1]
			case "-show":
				o.show = args[1]
			default:
				re, err := regexp.Compile(args[1])
				ts.Check(err)
				o.ready = re
			}
			args = args[2:]
		default:
			ts.Fatalf("start: unknown option %s", args[0])
		}
	}
	if o != nil && o.out == "" && (o.show != "" || o.bg) {
		ts.Fatalf("start: -show and -bg go with -term OUT")
	}
	return o, args
}

// scanMerged copies a process's output (stderr, or stdout and stderr
// merged) into buf, line by line, and reports on ready the first address
// the process announces; with also, once a line has matched it, and then
// the address may be "" (a program that does not announce one).
func scanMerged(r io.Reader, buf *lockedBuffer, also *regexp.Regexp, ready chan<- string) {
	sc := bufio.NewScanner(r)
	addr, sent, seen := "", false, also == nil
	for sc.Scan() {
		line := sc.Text()
		buf.Write([]byte(line + "\n"))
		if m := readyRE.FindStringSubmatch(line); m != nil && addr == "" {
			addr = m[1]
		}
		if also != nil && also.MatchString(line) {
			seen = true
		}
		if (addr != "" || also != nil) && seen && !sent {
			sent = true
			ready <- addr
		}
	}
}

// TestReadmeExamplesTagged checks the tags themselves: each names a
// transcript that exists and checks it, and each `readme NAME` of a
// transcript has its tag, so that no example is silently left unchecked.
func TestReadmeExamplesTagged(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	exs, err := parseReadmeExamples(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) == 0 {
		t.Fatal("README.md has no tagged examples")
	}
	scripts, err := filepath.Glob(filepath.Join("..", "..", "testdata", "script", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	checkedBy := map[string]string{}
	readmeRE := regexp.MustCompile(`(?m)^readme ([a-z0-9-]+)\b`)
	for _, s := range scripts {
		a, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range readmeRE.FindAllStringSubmatch(string(a), -1) {
			rel := "testdata/script/" + filepath.Base(s)
			if prev, ok := checkedBy[m[1]]; ok && prev != rel {
				t.Errorf("example %s is checked by both %s and %s", m[1], prev, rel)
			}
			checkedBy[m[1]] = rel
			if exs[m[1]] == nil {
				t.Errorf("%s checks README example %s, but README.md has no such tag", rel, m[1])
			}
		}
	}
	for name, ex := range exs {
		if by, ok := checkedBy[name]; !ok {
			t.Errorf("README.md:%d: example %s is checked by no transcript (want `readme %s ...` in %s)", ex.line, name, name, ex.script)
		} else if by != ex.script {
			t.Errorf("README.md:%d: example %s says it is checked by %s, but %s checks it", ex.line, name, ex.script, by)
		}
	}
}

func TestParseReadmeExamples(t *testing.T) {
	in := "# t\n\n<!-- example one: testdata/script/a.txtar -->\n```\n$ udpchat x\nout\n```\n\ntext\n<!-- example two: testdata/script/b.txtar -->\n````\n```\n````\n"
	exs, err := parseReadmeExamples([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := exs["one"].text; got != "$ udpchat x\nout\n" {
		t.Errorf("example one = %q", got)
	}
	if got := exs["two"].text; got != "```\n" {
		t.Errorf("example two = %q", got)
	}
	if exs["one"].line != 5 || in[exs["one"].start:exs["one"].end] != exs["one"].text {
		t.Errorf("example one: line %d, offsets %d-%d", exs["one"].line, exs["one"].start, exs["one"].end)
	}
	for _, bad := range []string{
		"<!-- example one -->\n```\n```\n",
		"<!-- example one: testdata/script/a.txtar -->\ntext\n",
		"<!-- example one: testdata/script/a.txtar -->\n```\nx\n",
		"<!-- example one: testdata/script/a.txtar -->\n```\n```\n<!-- example one: testdata/script/a.txtar -->\n```\n```\n",
	} {
		if _, err := parseReadmeExamples([]byte(bad)); err == nil {
			t.Errorf("parseReadmeExamples(%q) succeeded, want an error", bad)
		}
	}
	if !elidedMatch([]string{"a", "...", "d"}, []string{"a", "b", "c", "d"}) || !elidedMatch([]string{"a", "...", "b"}, []string{"a", "b"}) ||
		elidedMatch([]string{"a", "...", "d"}, []string{"a", "b", "c"}) || elidedMatch([]string{"a", "c"}, []string{"a", "b", "c"}) {
		t.Error("elidedMatch: \"...\" does not stand for any number of lines")
	}
	m := maskText("rtt 0.197/1.5 ms from 127.0.0.1:41234 to 10.0.0.1, 3 datagrams in 0.14.\n  - 16 retransmissions\n", defaultMasks,
		[]*regexp.Regexp{regexp.MustCompile(`^  - `)})
	if m != "rtt \x00/\x00 ms from \x00 to 10.0.0.1, 3 datagrams in \x00.\n  - \x00 retransmission\n" {
		t.Errorf("maskText = %q", m)
	}
	strace := []*regexp.Regexp{regexp.MustCompile(`^(\[pid +\d+\] )?\?\?\?\(`)}
	if got := dropLines("a\n[pid 7] ???( <detached ...>\nb ???(\n[pid 8] ???(\n", strace); got != "a\nb ???(\n" {
		t.Errorf("dropLines = %q, want the two strace lines left out", got)
	}
	// In a line whose numbers vary, a count may change the plural of the
	// word it counts, but not the word.
	vary := []*regexp.Regexp{regexp.MustCompile(`^room closed`)}
	same := func(a, b string) bool { return maskText(a, nil, vary) == maskText(b, nil, vary) }
	if !same("room closed: 3 deliveries; 0 retransmissions", "room closed: 1 delivery; 1 retransmission") {
		t.Error("maskText: a -vary line whose counts changed their plurals differs")
	}
	if same("room closed: 3 deliveries", "room closed: 3 members") || same("room closed: 2 left", "room closed: 2 lost") {
		t.Error("maskText: a -vary line with other words is the same")
	}
}
