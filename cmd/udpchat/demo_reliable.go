package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/arq/arqsim"
	"github.com/udpchat/udpchat/dgram/netem"
)

// reliableResult is what the arq half of `demo reliable` measured.
type reliableResult struct {
	sent, delivered int
	inOrder         bool
	marks           []byte
	snd, rcv        arq.Stats
	payload         uint64
	elapsed         time.Duration
}

// runReliableDemo runs the default demo's link twice: raw UDP, then arq.
func runReliableDemo(ctx context.Context, w io.Writer, js *jsonWriter, o *demoOpts) error {
	sc := *findScenario("")
	sc.name, sc.title = "reliable", "the same link, raw and through arq"
	cfg := sc.cfg
	if err := o.override(&cfg); err != nil {
		return err
	}
	raw, err := simulate(ctx, sc, cfg, o)
	if err != nil {
		return err
	}
	rel, err := arqOverLink(cfg, o)
	if err != nil {
		return err
	}
	a := analyse(raw)
	if js != nil {
		if err := demoJSON(js, raw); err != nil {
			return err
		}
		return js.write(struct {
			Type        string  `json:"type"`
			Messages    int     `json:"messages"`
			Delivered   int     `json:"delivered"`
			InOrder     bool    `json:"in_order"`
			Retransmits uint64  `json:"retransmits"`
			Timeouts    uint64  `json:"timeouts"`
			DataPackets uint64  `json:"data_packets"`
			Acks        uint64  `json:"acks"`
			Payload     uint64  `json:"payload_bytes"`
			Wire        uint64  `json:"wire_bytes"`
			HOLMessages uint64  `json:"hol_messages"`
			HOLAvgMs    float64 `json:"hol_avg_ms"`
			HOLMaxMs    float64 `json:"hol_max_ms"`
			ElapsedMs   float64 `json:"elapsed_ms"`
		}{"reliable", rel.sent, rel.delivered, rel.inOrder, rel.snd.Retransmits, rel.snd.Timeouts,
			rel.snd.SegmentsSent + rel.snd.Retransmits, rel.rcv.AcksSent, rel.payload,
			rel.snd.WireBytesSent + rel.rcv.WireBytesSent, rel.rcv.HOLMessages, holAvg(rel.rcv), ms(rel.rcv.HOLMax), ms(rel.elapsed)})
	}
	s := raw.recv
	fmt.Fprintf(w, "udpchat demo reliable: %s (seed %d, %s)\n", sc.title, o.seed, plural(uint64(o.count), "message"))
	fmt.Fprintf(w, "link (sender to receiver): %s\n\n", describeImpair(cfg))
	fmt.Fprintf(w, "Raw UDP:   %c in order   %c lost   %c late   %c duplicated\n", markInOrder, markLost, markLate, markDup)
	writeStrip(w, a.marks, o.color)
	fmt.Fprintf(w, "  %d of %d messages arrived, %d lost, %d late, %d twice.\n\n", s.Unique, o.count, len(a.lost), s.Reordered, s.Duplicates)
	fmt.Fprintln(w, "Through arq, on a link with the same settings and seed, 50 us each way, in virtual time (the same")
	fmt.Fprintln(w, "seed gives the same run):")
	writeStrip(w, rel.marks, o.color)
	order := "in order, each once"
	if !rel.inOrder {
		order = "NOT in order"
	}
	fmt.Fprintf(w, "  %d of %d messages arrived, %s.\n\n", rel.delivered, rel.sent, order)
	wire := rel.snd.WireBytesSent + rel.rcv.WireBytesSent
	fmt.Fprintln(w, "The price of reliability:")
	fmt.Fprintf(w, "  - %s; the retransmission timer expired %s, SACK and tail probes found the other losses;\n",
		plural(rel.snd.Retransmits, "retransmission"), plural(rel.snd.Timeouts, "time"))
	fmt.Fprintf(w, "  - %d data packets and %d acknowledgements for %d messages: %s of payload took %s on the wire (%.1fx);\n",
		rel.snd.SegmentsSent+rel.snd.Retransmits, rel.rcv.AcksSent, rel.sent, humanBytes(rel.payload), humanBytes(wire),
		float64(wire)/float64(max(rel.payload, 1)))
	if rel.rcv.HOLMessages > 0 {
		fmt.Fprintf(w, "  - head-of-line blocking: %s arrived but waited behind a lost one, %.2f ms on average, %.2f ms at most;\n",
			plural(rel.rcv.HOLMessages, "message"), holAvg(rel.rcv), ms(rel.rcv.HOLMax))
	} else {
		fmt.Fprintln(w, "  - head-of-line blocking: no message had to wait behind a lost one this time;")
	}
	fmt.Fprintf(w, "  - the whole transfer took %.1f ms (virtual).\n", ms(rel.elapsed))
	fmt.Fprintln(w, "UDP gave each message as soon as it came, and lost some; arq gave all of them, in order, later.")
	return nil
}

func holAvg(s arq.Stats) float64 {
	if s.HOLMessages == 0 {
		return 0
	}
	return round3(ms(s.HOLWait) / float64(s.HOLMessages))
}

// arqOverLink sends o.count messages through arq over the impaired link
// (sender to receiver; the acknowledgements come back untouched), in
// virtual time (arqsim): the same seed gives the same run, timing
// included.
func arqOverLink(cfg netem.Config, o *demoOpts) (*reliableResult, error) {
	res := &reliableResult{sent: o.count, inOrder: true, marks: []byte(strings.Repeat(string(markLost), o.count))}
	msgs := make([][]byte, o.count)
	for i := range msgs {
		msgs[i] = fmt.Appendf(nil, "demo message %d", i)
		res.payload += uint64(len(msgs[i]))
	}
	want := 0
	run, err := arqsim.Run(arqsim.Config{Up: cfg, Seed: o.seed, Limit: demoDeadline, OnDeliver: func(m []byte, _ time.Duration) {
		var i int
		if _, err := fmt.Sscanf(string(m), "demo message %d", &i); err != nil || i != want {
			res.inOrder = false
		}
		want++
		if i >= 0 && i < len(res.marks) {
			if res.marks[i] == markInOrder {
				res.marks[i] = markDup
			} else {
				res.marks[i] = markInOrder
			}
		}
		res.delivered++
	}}, msgs)
	if err != nil {
		return nil, fmt.Errorf("demo reliable: %w", err)
	}
	if run.ClientErr != nil || run.ServerErr != nil {
		return nil, fmt.Errorf("demo reliable: the sender: %v; the receiver: %v", run.ClientErr, run.ServerErr)
	}
	res.elapsed, res.snd, res.rcv = run.Elapsed, run.Client, run.Server
	return res, nil
}
