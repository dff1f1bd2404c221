package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

// Strip marks, one per seq number.
const (
	markInOrder = '.'
	markLost    = 'x'
	markLate    = '<'
	markDup     = '+'
	markCorrupt = '!'
)

// analysis compares what the link did with what the receiver saw.
type analysis struct {
	marks      []byte
	lost       []uint64 // seqs that never arrived
	dropped    int      // seqs the link dropped
	trailing   int      // of which after the highest seq received: invisible to a receiver
	held       int      // seqs the link held back (random or scripted)
	heldLate   int      // of which arrived late
	heldDupFst int      // of which a duplicate went first
	lateOnly   int      // late without being held (jitter)
	dupDecided int      // seqs the link duplicated
	bursts     int      // runs of consecutive lost seqs
	longest    int      // the longest run
	ok         bool
	notes      []string // reconciliation, in words
	problems   []string // what does not reconcile
}

func analyse(r *demoResult) *analysis {
	a := &analysis{marks: make([]byte, r.count)}
	intact := make([]int, r.count)
	corrupt := make([]int, r.count)
	first := make([]seq.Kind, r.count)
	for _, ar := range r.arrivals {
		switch {
		case ar.kind == kindCorrupted:
			if ar.seq < uint64(r.count) {
				corrupt[ar.seq]++
			}
		case ar.seq >= uint64(r.count) || ar.kind == seq.Malformed:
		default:
			if intact[ar.seq] == 0 {
				first[ar.seq] = ar.kind
			}
			intact[ar.seq]++
		}
	}
	highest, any := uint64(0), false
	for q := range r.count {
		if intact[q] > 0 {
			highest, any = uint64(q), true
		}
	}
	run := 0
	for q := range r.count {
		d := r.decisions[q]
		switch {
		case intact[q] == 0 && corrupt[q] > 0:
			a.marks[q] = markCorrupt
		case intact[q] == 0:
			a.marks[q] = markLost
		case intact[q] > 1:
			a.marks[q] = markDup
		case first[q] == seq.Late:
			a.marks[q] = markLate
		default:
			a.marks[q] = markInOrder
		}
		if intact[q] == 0 {
			a.lost = append(a.lost, uint64(q))
			if !any || uint64(q) > highest {
				a.trailing++
			}
			run++
			a.longest = max(a.longest, run)
		} else {
			if run > 0 {
				a.bursts++
			}
			run = 0
		}
		if d.Drop {
			a.dropped++
		}
		if d.Dup {
			a.dupDecided++
		}
		late := intact[q] > 0 && first[q] == seq.Late
		switch {
		case d.Hold || d.Swap:
			a.held++
			if late {
				a.heldLate++
			} else if d.Dup {
				a.heldDupFst++
			}
		case late:
			a.lateOnly++
		}
	}
	if run > 0 {
		a.bursts++
	}
	a.reconcile(r)
	return a
}

// reconcile checks the receiver against a replay of exactly what the link
// released, then explains, in words, how the link's counters become the
// receiver's.
func (a *analysis) reconcile(r *demoResult) {
	s, l := r.recv, r.link
	// 1. Everything the link released arrived.
	if s.Received+r.corrupted+r.malformed != l.Out {
		a.problems = append(a.problems, fmt.Sprintf("the link let %d datagrams through but the receiver got %d (kernel receive-buffer drops: %d)",
			l.Out, s.Received+r.corrupted+r.malformed, r.drops))
	}
	// 2. The receiver counted what a replay of the released datagrams counts.
	replay := seq.NewTracker(seq.Config{})
	for _, b := range r.released {
		replay.Observe(r.peer, b, time.Time{})
	}
	want, _ := replay.Lookup(r.peer)
	if s.Received != want.Received || s.Unique != want.Unique || s.Expected != want.Expected || s.Lost != want.Lost ||
		s.Duplicates != want.Duplicates || s.Reordered != want.Reordered || s.MaxExtent != want.MaxExtent {
		a.problems = append(a.problems, fmt.Sprintf("the receiver counted received %d, lost %d, duplicates %d, late %d; the datagrams the link released give %d, %d, %d, %d",
			s.Received, s.Lost, s.Duplicates, s.Reordered, want.Received, want.Lost, want.Duplicates, want.Reordered))
	}
	// 3. How the link's counters turn into the receiver's.
	corruptOnly := len(a.lost) - a.dropped
	if int(s.Lost) != len(a.lost)-a.trailing {
		a.problems = append(a.problems, fmt.Sprintf("%d datagrams never arrived intact (%d after the last one received) but the receiver counts %d lost",
			len(a.lost), a.trailing, s.Lost))
	}
	switch {
	case a.trailing > 0 && a.trailing == r.count:
		a.notes = append(a.notes, "lost: no datagram arrived, so the receiver cannot know that any was sent")
	case a.trailing > 0:
		a.notes = append(a.notes, fmt.Sprintf("lost: %s after the last datagram received; a receiver cannot count what it never hears of",
			isAre(a.trailing, "datagram was", "datagrams were")))
	}
	if corruptOnly > 0 {
		a.notes = append(a.notes, fmt.Sprintf("lost: %s as lost", isAre(corruptOnly, "datagram arrived only corrupted and counts", "datagrams arrived only corrupted and count")))
	}
	if s.Duplicates != l.Duplicated {
		a.notes = append(a.notes, fmt.Sprintf("duplicates: %d of the %d duplicated datagrams had a copy corrupted", l.Duplicated-s.Duplicates, l.Duplicated))
	}
	if a.held > a.heldLate {
		var why []string
		if a.heldDupFst > 0 {
			why = append(why, fmt.Sprintf("%s a duplicate that went first", isAre(a.heldDupFst, "had", "had")))
		}
		if rest := a.held - a.heldLate - a.heldDupFst; rest > 0 {
			why = append(why, isAre(rest, "was not overtaken before its hold ended", "were not overtaken before their hold ended"))
		}
		a.notes = append(a.notes, fmt.Sprintf("late: %d held back, %d of them arrived late; %s", a.held, a.heldLate, strings.Join(why, ", ")))
	}
	if a.lateOnly > 0 {
		a.notes = append(a.notes, fmt.Sprintf("late: %s overtaken by jitter", isAre(a.lateOnly, "more was", "more were")))
	}
	if l.Corrupted > 0 {
		twice := 0
		for _, d := range r.decisions {
			if d.Corrupt && d.Dup {
				twice++
			}
		}
		extra := ""
		if twice > 0 {
			extra = fmt.Sprintf(", %d of them twice, duplicated after the flip", twice)
		}
		a.notes = append(a.notes, fmt.Sprintf("corrupted: %d datagrams had a bit flipped after the kernel's checksum%s; the demo's own CRC-32 caught every copy (on a real network, UDP's checksum would have dropped them)",
			l.Corrupted, extra))
		if r.corrupted != l.Corrupted+uint64(twice) {
			a.problems = append(a.problems, fmt.Sprintf("the link corrupted %d copies but the receiver's CRC-32 caught %d", l.Corrupted+uint64(twice), r.corrupted))
		}
	}
	a.ok = len(a.problems) == 0
}

// isAre writes "1 datagram was" or "3 datagrams were": n, then the
// singular or plural phrase.
func isAre(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ANSI colours for the strip.
var markColor = map[byte]string{markInOrder: "\x1b[32m", markLost: "\x1b[1;31m", markLate: "\x1b[33m", markDup: "\x1b[36m", markCorrupt: "\x1b[35m"}

const stripWidth = 50

// writeStrip draws the marks in rows of 50 with a ruler.
func writeStrip(w io.Writer, marks []byte, color bool) {
	var b, ticks strings.Builder
	b.WriteString("        ")
	ticks.WriteString("        ")
	for i := 0; i < stripWidth; i += 10 {
		fmt.Fprintf(&b, "%-10d", i)
		ticks.WriteString("|         ")
	}
	fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	fmt.Fprintln(w, strings.TrimRight(ticks.String(), " "))
	for row := 0; row < len(marks); row += stripWidth {
		b.Reset()
		fmt.Fprintf(&b, "  %4d  ", row)
		for _, m := range marks[row:min(row+stripWidth, len(marks))] {
			if color {
				b.WriteString(markColor[m])
				b.WriteByte(m)
				b.WriteString("\x1b[0m")
			} else {
				b.WriteByte(m)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

func demoText(w io.Writer, r *demoResult, color bool, svg string) error {
	a := analyse(r)
	s, l := r.recv, r.link
	title := "udpchat demo"
	if r.sc.name != "" {
		title += " " + r.sc.name
	}
	fmt.Fprintf(w, "%s: %s (seed %d, %s)\n", title, r.sc.title, r.seed, plural(uint64(r.count), "datagram"))
	fmt.Fprintf(w, "link: %s\n\n", describeImpair(r.cfg))
	fmt.Fprintf(w, "  one mark per datagram, by seq number:   %c in order   %c lost   %c late (reordered)   %c duplicated",
		markInOrder, markLost, markLate, markDup)
	if r.corrupted > 0 {
		fmt.Fprintf(w, "   %c corrupted", markCorrupt)
	}
	fmt.Fprintln(w)
	writeStrip(w, a.marks, color)
	fmt.Fprintln(w)

	t := newTable(w)
	t.leftFrom = 2
	t.row("", "the link did (netem)", "the receiver saw (seq)")
	t.row("  sent", l.In, fmt.Sprintf("%d expected", s.Expected))
	t.row("  delivered", l.Out, fmt.Sprintf("%d received", s.Received))
	t.row("  dropped", l.Dropped, fmt.Sprintf("%d lost (%.1f%%)", s.Lost, lossPct(s.Lost, s.Expected)))
	t.row("  duplicated", l.Duplicated, fmt.Sprintf("%d duplicates", s.Duplicates))
	t.row("  held back", l.Reordered, fmt.Sprintf("%d late, by up to %d", s.Reordered, s.MaxExtent))
	if l.Corrupted > 0 || r.corrupted > 0 {
		t.row("  corrupted", l.Corrupted, fmt.Sprintf("%d failed the checksum", r.corrupted))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	switch {
	case a.ok && len(a.notes) == 0:
		fmt.Fprintln(w, "They reconcile: the receiver counted exactly what the link did.")
	case a.ok:
		fmt.Fprintln(w, "They reconcile: the receiver counted exactly what the link released, and the differences are these:")
	default:
		fmt.Fprintln(w, "They do NOT reconcile:")
		for _, p := range a.problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	for _, n := range a.notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
	fmt.Fprintln(w)
	for _, line := range scenarioWords(r, a) {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	for _, line := range tcpWords(r, a) {
		fmt.Fprintln(w, line)
	}
	if svg != "" {
		fmt.Fprintf(w, "\nSequence plot written to %s.\n", svg)
	}
	return nil
}

// scenarioWords says what the scenario shows, with this run's numbers.
func scenarioWords(r *demoResult, a *analysis) []string {
	s := r.recv
	n := uint64(r.count)
	switch r.sc.name {
	case "loss":
		return []string{fmt.Sprintf("Each datagram was lost on its own, at random: %d of %d (%.1f%%), in %s, the longest %d datagrams long.",
			len(a.lost), n, lossPct(uint64(len(a.lost)), n), plural(uint64(a.bursts), "run"), a.longest)}
	case "burst":
		return []string{
			fmt.Sprintf("Losses came in bursts, as on a congested or fading link: %d of %d lost (%.1f%%) in %s, the longest %d datagrams long.",
				len(a.lost), n, lossPct(uint64(len(a.lost)), n), plural(uint64(a.bursts), "burst"), a.longest),
			"Independent loss at the same average would scatter them; a burst can wipe out a whole message",
			"that spans several datagrams, which is why forward error correction interleaves."}
	case "reorder":
		return []string{fmt.Sprintf("%d datagrams arrived after a later one (late by up to %d arrivals): UDP hands them over in the order they came;",
			s.Reordered, s.MaxExtent),
			"only the sequence numbers let the receiver notice."}
	case "duplicate":
		return []string{fmt.Sprintf("%d datagrams arrived twice. UDP does not notice: an application that must not act twice", s.Duplicates),
			"(a payment, a command) has to recognise repeats itself, here by their sequence numbers."}
	}
	return []string{fmt.Sprintf("UDP delivered %d of %d messages, %d out of order and %d twice, each one whole, none waiting for another.",
		s.Unique, n, s.Reordered, s.Duplicates)}
}

// tcpWords says what TCP would have done on the same link.
func tcpWords(r *demoResult, a *analysis) []string {
	s := r.recv
	lines := []string{"What TCP would have done on this link:"}
	if lost := len(a.lost); lost > 0 {
		lines = append(lines,
			fmt.Sprintf("  - sent the %s again (retransmitted, after a timeout or three duplicate ACKs), and held", plural(uint64(lost), "lost segment")),
			"    back everything after each loss until it arrived: one loss delays every later message",
			"    (head-of-line blocking), where UDP delivered the later ones at once;")
	}
	if late := s.Reordered; late > 0 {
		lines = append(lines, fmt.Sprintf("  - put the %s back in order in the kernel: you would never see them out of order;", plural(late, "late segment")))
	}
	if dup := s.Duplicates; dup > 0 {
		lines = append(lines, fmt.Sprintf("  - dropped the %s silently;", plural(dup, "duplicate")))
	}
	var bytes int
	for i := range r.count {
		bytes += len(fmt.Sprintf("demo message %d", i))
	}
	lines = append(lines, fmt.Sprintf("  - delivered the %d messages as one stream of %d bytes, with no boundaries: to find where each",
		r.count, bytes),
		"    message ends you would need a length prefix or a delimiter (see: udpchat demo boundaries).")
	return lines
}

// demoSummaryJSON is the receiver's summary, with listen --seq's fields.
type demoSummaryJSON struct {
	senderSummaryJSON
	Scenario string `json:"scenario"`
}

func demoJSON(js *jsonWriter, r *demoResult) error {
	a := analyse(r)
	name := r.sc.name
	if name == "" {
		name = "default"
	}
	objs := []any{
		struct {
			Type     string `json:"type"`
			Scenario string `json:"scenario"`
			Title    string `json:"title"`
			Seed     uint64 `json:"seed"`
			Count    int    `json:"count"`
			Link     string `json:"link"`
		}{"demo", name, r.sc.title, r.seed, r.count, describeImpair(r.cfg)},
		struct {
			Type  string `json:"type"`
			Marks string `json:"marks"`
		}{"strip", string(a.marks)},
		struct {
			linkJSON
			Scenario string `json:"scenario"`
		}{newLinkJSON("sender->receiver", r.link), name},
		demoSummaryJSON{senderJSON(r.recv), name},
		struct {
			Type         string   `json:"type"`
			Scenario     string   `json:"scenario"`
			OK           bool     `json:"ok"`
			Dropped      int      `json:"dropped"`
			TrailingLost int      `json:"trailing_lost"`
			Held         int      `json:"held"`
			HeldLate     int      `json:"held_late"`
			Lost         []uint64 `json:"lost_seqs"`
			Problems     []string `json:"problems"`
			Notes        []string `json:"notes"`
		}{"reconcile", name, a.ok, a.dropped, a.trailing, a.held, a.heldLate, nonNil(a.lost), nonNilS(a.problems), nonNilS(a.notes)},
	}
	for _, o := range objs {
		if err := js.write(o); err != nil {
			return err
		}
	}
	return nil
}

func nonNil(s []uint64) []uint64 {
	if s == nil {
		return []uint64{}
	}
	return s
}

func nonNilS(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
