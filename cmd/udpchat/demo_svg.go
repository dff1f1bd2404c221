package main

import (
	"bufio"
	"fmt"
	"html"
	"os"

	"github.com/udpchat/udpchat/dgram/seq"
)

// writeSVG draws a time-sequence graph in the style of TCP's (tcptrace):
// arrival order on x, sequence number on y. Datagrams in order lie on a
// rising line; a late one sits below the line, a duplicate repeats a
// height, a lost seq number is marked on the y axis. Every arrival has one
// mark (class "arrival ..."), every lost seq number one (class "lost").
func writeSVG(path string, r *demoResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	a := analyse(r)
	const (
		width, height = 900.0, 560.0
		left, right   = 70.0, 30.0
		top, bottom   = 70.0, 60.0
	)
	plotW, plotH := width-left-right, height-top-bottom
	n := max(len(r.arrivals), 1)
	maxSeq := max(r.count-1, 1)
	x := func(i int) float64 { return left + plotW*float64(i)/float64(max(n-1, 1)) }
	y := func(q uint64) float64 { return top + plotH - plotH*float64(q)/float64(maxSeq) }

	name := r.sc.name
	if name == "" {
		name = "default"
	}
	title := fmt.Sprintf("udpchat demo %s: %s", name, r.sc.title)
	sub := fmt.Sprintf("seed %d, %d datagrams; link: %s; received %d, lost %d, late %d, duplicates %d",
		r.seed, r.count, describeImpair(r.cfg), r.recv.Received, len(a.lost), r.recv.Reordered, r.recv.Duplicates)

	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif">
<title>%s</title>
<rect width="100%%" height="100%%" fill="white"/>
<text x="%.0f" y="28" font-size="18" font-weight="bold">%s</text>
<text x="%.0f" y="48" font-size="12" fill="#444">%s</text>
`, width, height, width, height, html.EscapeString(title), left, html.EscapeString(title), left, html.EscapeString(sub))

	// grid and axes
	ystep, xstep := niceStep(maxSeq), niceStep(n)
	fmt.Fprintf(w, `<g stroke="#ddd" stroke-width="1">`+"\n")
	for q := 0; q <= maxSeq; q += ystep {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", left, y(uint64(q)), left+plotW, y(uint64(q)))
	}
	for i := 0; i < n; i += xstep {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", x(i), top, x(i), top+plotH)
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintf(w, `<g stroke="#333" stroke-width="1.5"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/></g>`+"\n",
		left, top, left, top+plotH, left, top+plotH, left+plotW, top+plotH)
	fmt.Fprintf(w, `<g font-size="11" fill="#333">`+"\n")
	for q := 0; q <= maxSeq; q += ystep {
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="end">%d</text>`+"\n", left-14, y(uint64(q))+4, q)
	}
	for i := 0; i < n; i += xstep {
		// arrivals are numbered from 1; the ticks fall on round numbers
		k := max(i, 1)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", x(k-1), top+plotH+18, k)
	}
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="13">arrival order</text>`+"\n", left+plotW/2, height-14)
	fmt.Fprintf(w, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle" font-size="13">sequence number</text>`+"\n", top+plotH/2)
	fmt.Fprintln(w, `</g>`)

	// lost seq numbers, on the y axis
	fmt.Fprintln(w, `<g fill="#d62728">`)
	for _, q := range a.lost {
		fmt.Fprintf(w, `<path class="lost" d="M%.1f %.1fl-9 -4v8z"><title>seq %d lost</title></path>`+"\n", left-1, y(q), q)
	}
	fmt.Fprintln(w, `</g>`)

	// arrivals
	for i, ar := range r.arrivals {
		class, fill := "arrival in-order", "#222"
		switch ar.kind {
		case seq.Late:
			class, fill = "arrival late", "#ff7f0e"
		case seq.Duplicate:
			class, fill = "arrival duplicate", "#1f77b4"
		case seq.Gap:
			class, fill = "arrival gap", "#222"
		case seq.Malformed:
			class, fill = "arrival malformed", "#9467bd"
		}
		px, py := x(i), y(ar.seq)
		if ar.kind == seq.Malformed {
			py = top + plotH
		}
		label := fmt.Sprintf("seq %d: %s, arrival %d", ar.seq, ar.kind, i+1)
		if ar.kind == seq.Duplicate {
			fmt.Fprintf(w, `<rect class="%s" x="%.1f" y="%.1f" width="7" height="7" fill="%s"><title>%s</title></rect>`+"\n", class, px-3.5, py-3.5, fill, label)
		} else {
			r := 2.5
			if ar.kind == seq.Late {
				r = 4
			}
			fmt.Fprintf(w, `<circle class="%s" cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>%s</title></circle>`+"\n", class, px, py, r, fill, label)
		}
	}

	// legend
	lx, ly := left+12, top+12
	fmt.Fprintf(w, `<g font-size="12"><rect x="%.1f" y="%.1f" width="190" height="84" fill="white" stroke="#999"/>`+"\n", lx, ly)
	items := []struct{ shape, label string }{
		{`<circle cx="%.1f" cy="%.1f" r="3" fill="#222"/>`, "arrived in order"},
		{`<circle cx="%.1f" cy="%.1f" r="4" fill="#ff7f0e"/>`, "arrived late (reordered)"},
		{`<rect x="%.1f" y="%.1f" width="7" height="7" fill="#1f77b4"/>`, "duplicate"},
		{`<path d="M%.1f %.1fl-9 -4v8z" fill="#d62728"/>`, "lost (on the y axis)"},
	}
	for k, it := range items {
		cy := ly + 16 + float64(k)*18
		cx := lx + 14
		switch k {
		case 2:
			fmt.Fprintf(w, it.shape, cx-3.5, cy-3.5)
		case 3:
			fmt.Fprintf(w, it.shape, cx+4, cy)
		default:
			fmt.Fprintf(w, it.shape, cx, cy)
		}
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f">%s</text>`+"\n", cx+16, cy+4, it.label)
	}
	fmt.Fprintln(w, `</g>`)
	fmt.Fprintln(w, `</svg>`)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// niceStep returns a round tick step (1, 2 or 5 times a power of ten)
// giving about ten ticks over span.
func niceStep(span int) int {
	raw := max(span/10, 1)
	step := 1
	for step*10 <= raw {
		step *= 10
	}
	switch {
	case raw >= 5*step:
		return 5 * step
	case raw >= 2*step:
		return 2 * step
	}
	return step
}
