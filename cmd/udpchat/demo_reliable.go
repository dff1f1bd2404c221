package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/arq"
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
	rel, err := arqOverLink(ctx, cfg, o)
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
	fmt.Fprintln(w, "Through arq, on a link with the same settings and seed (arq's packets draw their own fates and its")
	fmt.Fprintln(w, "timers follow the clock, so this half differs from run to run):")
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
	fmt.Fprintf(w, "  - the whole transfer took %.1f ms.\n", ms(rel.elapsed))
	fmt.Fprintln(w, "UDP gave each message as soon as it came, and lost some; arq gave all of them, in order, later.")
	return nil
}

func holAvg(s arq.Stats) float64 {
	if s.HOLMessages == 0 {
		return 0
	}
	return ms(s.HOLWait) / float64(s.HOLMessages)
}

// arqOverLink sends o.count messages through arq over a socket whose
// writes cross the impaired link (netem.Wrap, same seed), and checks they
// arrive once, in order.
func arqOverLink(ctx context.Context, cfg netem.Config, o *demoOpts) (*reliableResult, error) {
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	rx, err := dgram.ListenAddrPort(lo)
	if err != nil {
		return nil, err
	}
	defer rx.Close()
	tx, err := dgram.ListenAddrPort(lo)
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	wtx, err := netem.Wrap(tx, netem.Options{Write: cfg, Seed: o.seed})
	if err != nil {
		return nil, err
	}
	defer wtx.Close()
	ctx, cancel := context.WithTimeout(ctx, demoDeadline)
	defer cancel()
	l, err := arq.Listen(rx, arq.Config{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	res := &reliableResult{sent: o.count, inOrder: true, marks: []byte(strings.Repeat(string(markLost), o.count))}
	type recvd struct {
		st  arq.Stats
		err error
	}
	done := make(chan recvd, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err != nil {
			done <- recvd{err: err}
			return
		}
		defer c.Abort()
		for want := 0; ; want++ {
			m, err := c.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				done <- recvd{err: err}
				return
			}
			var i int
			if _, err := fmt.Sscanf(string(m), "demo message %d", &i); err != nil || i != want {
				res.inOrder = false
			}
			if i >= 0 && i < len(res.marks) {
				if res.marks[i] == markInOrder {
					res.marks[i] = markDup
				} else {
					res.marks[i] = markInOrder
				}
			}
			res.delivered++
		}
		c.Close()
		done <- recvd{st: c.Stats()}
	}()
	start := time.Now()
	c, err := arq.Dial(ctx, wtx, dgram.LocalAddrPort(rx), arq.Config{})
	if err != nil {
		return nil, fmt.Errorf("demo reliable: %w", err)
	}
	defer c.Abort()
	for i := range o.count {
		m := fmt.Appendf(nil, "demo message %d", i)
		res.payload += uint64(len(m))
		if err := c.Send(m); err != nil {
			return nil, fmt.Errorf("demo reliable: %w", err)
		}
	}
	if err := c.Close(); err != nil {
		return nil, fmt.Errorf("demo reliable: %w", err)
	}
	r := <-done
	if r.err != nil {
		return nil, fmt.Errorf("demo reliable: the receiver: %w", r.err)
	}
	res.elapsed = time.Since(start)
	res.snd, res.rcv = c.Stats(), r.st
	return res, nil
}
