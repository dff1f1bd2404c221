package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/udpchat/udpchat/dgram/netem"
	"github.com/udpchat/udpchat/dgram/pcap"
	"github.com/udpchat/udpchat/dgram/pmtu"
	"github.com/udpchat/udpchat/dgram/seq"
)

// demo fragments: why large datagrams are fragile. A 9000-byte datagram
// crosses a 1500-byte path as 7 IPv4 fragments, each its own packet
// through the impaired link, in virtual time; the receiver's kernel
// rebuilds the datagram only when every fragment arrives intact. The same
// bytes, sent as 7 datagrams that fit the path, cross as the same number
// of packets, and with the same seed the link decides the same fate for
// each: the difference is only in what one lost packet costs.
const (
	fragDatagram = 9000 // bytes of UDP payload in each large datagram
	fragMTU      = 1500 // the path's MTU
	fragLoss     = 0.05 // the scenario's packet loss
)

// The two ends of the simulated path (the benchmarking range, RFC 2544),
// as a capture shows them.
var (
	fragSrc = netip.MustParseAddrPort("198.18.0.1:40000")
	fragDst = netip.MustParseAddrPort("198.18.0.2:9000")
)

// fragRun is what one half of the demo measured: the large datagrams, or
// the small ones.
type fragRun struct {
	datagrams     int    // datagrams sent
	packets       int    // packets that entered the link
	dropped       int    // packets the link dropped
	corrupted     int    // packets it corrupted (a receiver's checksum discards them)
	delivered     int    // datagrams that arrived whole
	payload       uint64 // bytes of data sent
	deliveredData uint64 // bytes of data that arrived
	marks         []byte // per message: '.' arrived; 'x' lost (large); '1'-'9' pieces lost (small)
	link          netem.Snapshot
}

// fragPacket is one packet offered to the link, for the decision hook.
type fragPacket struct {
	msg, piece int
	pkt        []byte
	at         time.Time
}

// fragLink runs packets through a Sim in virtual time and records the
// fate of each: lost (dropped, or corrupted: the receiver's checksum
// discards it) or released (possibly twice, possibly late).
type fragLink struct {
	sim  *netem.Sim
	cur  *fragPacket
	lost func(p *fragPacket, why string)
}

func newFragLink(cfg netem.Config, seed uint64, release func(b []byte, at time.Time)) (*fragLink, error) {
	l := &fragLink{}
	if release == nil {
		release = func([]byte, time.Time) {}
	}
	sim, err := netem.NewSim(cfg, seed, nil, release)
	if err != nil {
		return nil, err
	}
	sim.OnDecide(func(d *netem.Decision) {
		switch {
		case d.Drop:
			l.lost(l.cur, "dropped by the link ("+d.Cause.String()+")")
		case d.Corrupt:
			l.lost(l.cur, fmt.Sprintf("corrupted by the link (bit %d flipped): the checksum discards it", d.Bit))
		}
	})
	l.sim = sim
	return l, nil
}

// send offers p to the link at its virtual time.
func (l *fragLink) send(p *fragPacket) {
	l.cur = p
	l.sim.Send(p.at, p.pkt)
}

// fragLost is what the link did to one message's packets.
type fragLost struct {
	n     int    // packets of it lost
	first int    // the first one lost (fragment or piece index)
	why   string // and why
}

// vtime is the virtual clock's origin.
var vtime = time.Unix(0, 0)

// fragHalf runs one half: large datagrams fragmented, or the same data in
// datagrams that fit. release, when set, sees every packet the link lets
// through, at its virtual time.
func fragHalf(ctx context.Context, cfg netem.Config, o *demoOpts, large bool, release func(b []byte, at time.Time)) (*fragRun, []fragLost, error) {
	data := fragDatagram - seq.HeaderLen
	piece := fragMTU - pmtu.Overhead4 - seq.HeaderLen
	pieces := (data + piece - 1) / piece
	pieceLen := func(j int) int { return min(piece, data-j*piece) }
	r := &fragRun{datagrams: o.count, marks: make([]byte, o.count)}
	if !large {
		r.datagrams = o.count * pieces
	}
	lost := make([]fragLost, o.count)
	var lostData uint64
	l, err := newFragLink(cfg, o.seed, release)
	if err != nil {
		return nil, nil, err
	}
	l.lost = func(p *fragPacket, why string) {
		if lost[p.msg].n == 0 {
			lost[p.msg].first, lost[p.msg].why = p.piece, why
		}
		lost[p.msg].n++
		if strings.HasPrefix(why, "corrupted") {
			r.corrupted++
		} else {
			r.dropped++
		}
		if !large {
			lostData += uint64(pieceLen(p.piece))
		}
	}
	buf := make([]byte, fragDatagram)
	var frags [][]byte
	for i := range o.count {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, nil, ctx.Err() // Ctrl-C: a long --count stops at once
		}
		if o.progress != nil {
			o.progress.add(1)
		}
		at := vtime.Add(time.Duration(i) * o.interval)
		if large {
			payload := seq.Header{Type: seq.TypeData, Seq: uint64(i)}.Append(buf[:0])
			pkt, err := pcap.AppendUDP(nil, fragSrc, fragDst, fillData(payload, fragDatagram), pcap.IPOptions{ID: uint16(i + 1)})
			if err != nil {
				return nil, nil, err
			}
			if frags, err = pcap.FragmentIPv4(frags[:0], pkt, fragMTU); err != nil {
				return nil, nil, err
			}
			for j, f := range frags {
				r.packets++
				l.send(&fragPacket{msg: i, piece: j, pkt: f, at: at})
			}
		} else {
			for j := range pieces {
				q := uint64(i*pieces + j)
				payload := seq.Header{Type: seq.TypeData, Seq: q}.Append(buf[:0])
				pkt, err := pcap.AppendUDP(nil, fragSrc, fragDst, fillData(payload, seq.HeaderLen+pieceLen(j)), pcap.IPOptions{ID: uint16(q + 1), DF: true})
				if err != nil {
					return nil, nil, err
				}
				r.packets++
				l.send(&fragPacket{msg: i, piece: j, pkt: pkt, at: at})
			}
		}
		r.payload += uint64(data)
	}
	l.sim.Drain()
	r.link = l.sim.Counters()
	for i, x := range lost {
		switch {
		case x.n == 0:
			r.marks[i] = markInOrder
		case large:
			r.marks[i] = markLost
		case x.n < 10:
			r.marks[i] = byte('0' + x.n)
		default:
			r.marks[i] = '+'
		}
		if large && x.n == 0 {
			r.delivered++
			r.deliveredData += uint64(data)
		}
	}
	if !large {
		r.delivered = r.datagrams - r.dropped - r.corrupted
		r.deliveredData = r.payload - lostData
	}
	return r, lost, nil
}

// runFragments runs both halves on cfg with the same seed. With a
// capture, each half runs twice (in virtual time, the second run is the
// first again): once to learn which datagrams the link will spoil, once
// to record what the receiver got, with comments that say so.
func runFragments(ctx context.Context, cfg netem.Config, o *demoOpts, w *pcap.Writer) (large, small *fragRun, err error) {
	if o.errw != nil {
		runs := 2
		if w != nil {
			runs = 4
		}
		prog := startDemoProgress(o.errw, o.errTTY, runs*o.count, 0)
		defer prog.end()
		o.progress = prog
	}
	large, llost, err := fragHalf(ctx, cfg, o, true, nil)
	if err != nil {
		return nil, nil, err
	}
	small, slost, err := fragHalf(ctx, cfg, o, false, nil)
	if err != nil {
		return nil, nil, err
	}
	if w == nil {
		return large, small, nil
	}
	t0 := time.Now().Truncate(time.Millisecond)
	nfrag := pcap.FragmentCount(fragDatagram, fragMTU)
	pieces := small.datagrams / o.count
	if _, _, err := fragHalf(ctx, cfg, o, true, func(b []byte, at time.Time) {
		id, off := fragIDOffset(b)
		msg, frag := unwrapID(id-1, at, o.interval, 0), off/(fragMTU-pcap.IPv4HeaderLen)
		c := fmt.Sprintf("fragment %d of %d of datagram %d", frag+1, nfrag, msg)
		if msg >= 0 && msg < len(llost) && llost[msg].n > 0 {
			x := llost[msg]
			c += fmt.Sprintf(": arrived for nothing, the datagram is lost: its fragment %d was %s", x.first+1, x.why)
		}
		_ = w.WriteIP(t0.Add(at.Sub(vtime)), b, 0, pcap.In, c)
	}); err != nil {
		return nil, nil, err
	}
	if _, _, err := fragHalf(ctx, cfg, o, false, func(b []byte, at time.Time) {
		id, _ := fragIDOffset(b)
		q := unwrapID(id-1, at, o.interval/time.Duration(pieces), pieces-1)
		msg, j := q/pieces, q%pieces
		c := fmt.Sprintf("piece %d of %d of message %d", j+1, pieces, msg)
		if msg >= 0 && msg < len(slost) && slost[msg].n > 0 {
			x := slost[msg]
			c += fmt.Sprintf(": delivered; the message lost %s (piece %d %s), and only those", plural(uint64(x.n), "piece"), x.first+1, x.why)
		}
		_ = w.WriteIP(t0.Add(at.Sub(vtime)), b, 1, pcap.In, c)
	}); err != nil {
		return nil, nil, err
	}
	return large, small, nil
}

// unwrapID finds the number that a 16-bit IP identification (less one)
// stands for: the largest number with those low 16 bits sent by virtual
// time at, numbers being sent one every interval (and up to slack more
// at once).
func unwrapID(low int, at time.Time, interval time.Duration, slack int) int {
	if low < 0 || interval <= 0 {
		return low
	}
	sent := int(at.Sub(vtime)/interval) + slack
	if sent < low {
		return low
	}
	return low + (sent-low)/65536*65536
}

// fragIDOffset reads an IPv4 packet's identification and fragment offset
// (in bytes).
func fragIDOffset(b []byte) (id, off int) {
	if len(b) < pcap.IPv4HeaderLen {
		return -1, 0
	}
	return int(b[4])<<8 | int(b[5]), (int(b[6])<<8 | int(b[7])) & 0x1fff * 8
}

// fillData pads b with printable bytes to n bytes.
func fillData(b []byte, n int) []byte {
	for len(b) < n {
		b = append(b, "abcdefghijklmnopqrstuvwxyz"[len(b)%26])
	}
	return b
}

// fragExpected is the chance that a datagram of n packets arrives whole
// when each packet is lost with probability p: (1-p)^n.
func fragExpected(p float64, n int) float64 { return math.Pow(1-p, float64(n)) }

func fpct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) * 100 / float64(of)
}

func pctU(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) * 100 / float64(of)
}

type fragRunJSON struct {
	Type           string  `json:"type"`
	Datagrams      int     `json:"datagrams"`
	DatagramBytes  int     `json:"datagram_bytes"`
	Packets        int     `json:"packets"`
	PacketsLost    int     `json:"packets_lost"`
	Corrupted      int     `json:"packets_corrupted"`
	Delivered      int     `json:"delivered"`
	DataBytes      uint64  `json:"data_bytes"`
	DeliveredBytes uint64  `json:"delivered_data_bytes"`
	LossPct        float64 `json:"datagram_loss_pct"`
	DataLossPct    float64 `json:"data_loss_pct"`
	Marks          string  `json:"marks"`
}

func newFragRunJSON(typ string, r *fragRun, size int) fragRunJSON {
	return fragRunJSON{Type: typ, Datagrams: r.datagrams, DatagramBytes: size, Packets: r.packets, PacketsLost: r.dropped,
		Corrupted: r.corrupted, Delivered: r.delivered, DataBytes: r.payload, DeliveredBytes: r.deliveredData,
		LossPct: round3(fpct(r.datagrams-r.delivered, r.datagrams)), DataLossPct: round3(pctU(r.payload-r.deliveredData, r.payload)), Marks: string(r.marks)}
}

// runFragmentsDemo prints `demo fragments`.
func runFragmentsDemo(ctx context.Context, w io.Writer, js *jsonWriter, o *demoOpts, pw *pcap.Writer) error {
	cfg := netem.Config{Loss: fragLoss}
	if err := o.override(&cfg); err != nil {
		return err
	}
	large, small, err := runFragments(ctx, cfg, o, pw)
	if err != nil {
		return err
	}
	nfrag := pcap.FragmentCount(fragDatagram, fragMTU)
	pieces := small.datagrams / o.count
	piece := fragMTU - pmtu.Overhead4
	onlyLoss := cfg.GE == nil && cfg.Script == nil && cfg.Corrupt == 0 && cfg.Loss > 0
	if js != nil {
		sum := struct {
			Type            string   `json:"type"`
			Scenario        string   `json:"scenario"`
			PacketLossPct   float64  `json:"packet_loss_pct"`
			DatagramLossPct float64  `json:"datagram_loss_pct"`
			ExpectedPct     *float64 `json:"expected_datagram_loss_pct,omitempty"`
			SmallDataLoss   float64  `json:"small_data_loss_pct"`
		}{Type: "summary", Scenario: "fragments", PacketLossPct: round3(fpct(large.dropped+large.corrupted, large.packets)),
			DatagramLossPct: round3(fpct(large.datagrams-large.delivered, large.datagrams)),
			SmallDataLoss:   round3(pctU(small.payload-small.deliveredData, small.payload))}
		if onlyLoss {
			e := round3((1 - fragExpected(cfg.Loss, nfrag)) * 100)
			sum.ExpectedPct = &e
		}
		// The link's counters, as every scenario gives them: one link, since
		// both halves draw the same decisions from the seed for the same
		// number of packets.
		link := struct {
			linkJSON
			Scenario string `json:"scenario"`
		}{newLinkJSON("sender->receiver", large.link), "fragments"}
		for _, v := range []any{
			struct {
				Type      string `json:"type"`
				Scenario  string `json:"scenario"`
				Title     string `json:"title"`
				Seed      uint64 `json:"seed"`
				Count     int    `json:"count"`
				Link      string `json:"link"`
				MTU       int    `json:"mtu"`
				Fragments int    `json:"fragments_per_datagram"`
			}{"demo", "fragments", "why large datagrams are fragile", o.seed, o.count, describeImpair(cfg), fragMTU, nfrag},
			newFragRunJSON("fragmented", large, fragDatagram),
			newFragRunJSON("small", small, piece),
			link,
			sum,
		} {
			if err := js.write(v); err != nil {
				return err
			}
		}
		return nil
	}
	p := &printer{w: w}
	p.f("udpchat demo fragments: why large datagrams are fragile (seed %d, %s of %d bytes)\n", o.seed, plural(uint64(o.count), "datagram"), fragDatagram)
	p.f("link: MTU %d, %s per packet\n\n", fragMTU, describeImpair(cfg))
	p.f("A %d-byte datagram does not fit in a %d-byte packet, so IPv4 cuts it into %d fragments, each\n", fragDatagram, fragMTU, nfrag)
	p.f("behind its own IP header, and the receiving kernel rebuilds the datagram only when all %d have\n", nfrag)
	p.f("arrived. (IPv6 routers never fragment: there the sender must, or the datagram is dropped.)\n\n")
	p.f("%d-byte datagrams, in %d fragments each:   %c arrived   %c lost (a fragment of it was lost)\n", fragDatagram, nfrag, markInOrder, markLost)
	writeStrip(w, large.marks, o.color)
	p.f("  %d of %d datagrams arrived (%.1f%%): the link lost %d of %d packets (%.1f%%), and %d whole datagrams with them.\n\n",
		large.delivered, large.datagrams, fpct(large.delivered, large.datagrams), large.dropped+large.corrupted, large.packets,
		fpct(large.dropped+large.corrupted, large.packets), large.datagrams-large.delivered)
	p.f("The same bytes in datagrams that fit the path (%d of at most %d bytes for each %d):   %c all arrived   1-9 lost\n",
		pieces, piece, fragDatagram, markInOrder)
	writeStrip(w, small.marks, o.color)
	p.f("  %d of %d datagrams arrived (%.1f%%): the link lost %d of %d packets (%.1f%%), and only those.\n\n",
		small.delivered, small.datagrams, fpct(small.delivered, small.datagrams), small.dropped+small.corrupted, small.packets,
		fpct(small.dropped+small.corrupted, small.packets))

	t := newTable(w)
	t.row("", "fragmented", "datagrams that fit")
	t.row("  packets sent", large.packets, small.packets)
	t.row("  packets lost", fmt.Sprintf("%d (%.1f%%)", large.dropped+large.corrupted, fpct(large.dropped+large.corrupted, large.packets)),
		fmt.Sprintf("%d (%.1f%%)", small.dropped+small.corrupted, fpct(small.dropped+small.corrupted, small.packets)))
	t.row("  datagrams lost", fmt.Sprintf("%d of %d (%.1f%%)", large.datagrams-large.delivered, large.datagrams, fpct(large.datagrams-large.delivered, large.datagrams)),
		fmt.Sprintf("%d of %d (%.1f%%)", small.datagrams-small.delivered, small.datagrams, fpct(small.datagrams-small.delivered, small.datagrams)))
	t.row("  data delivered", fmt.Sprintf("%d of %d bytes (%.1f%%)", large.deliveredData, large.payload, pctU(large.deliveredData, large.payload)),
		fmt.Sprintf("%d bytes (%.1f%%)", small.deliveredData, pctU(small.deliveredData, small.payload)))
	if err := t.flush(); err != nil {
		return err
	}
	p.f("\n")
	lossPct := fpct(large.datagrams-large.delivered, large.datagrams)
	if onlyLoss {
		exp := 1 - fragExpected(cfg.Loss, nfrag)
		p.f("Every fragment must arrive: with %s packet loss a %d-fragment datagram arrives with probability\n", pctText(cfg.Loss), nfrag)
		p.f("(1 - %g)^%d = %.1f%%, so %s packet loss is %.1f%% datagram loss (this run: %.1f%%). Sent in\n",
			cfg.Loss, nfrag, (1-exp)*100, pctText(cfg.Loss), exp*100, lossPct)
	} else {
		p.f("Every fragment must arrive: this link lost %.1f%% of the packets and %.1f%% of the datagrams. Sent in\n",
			fpct(large.dropped+large.corrupted, large.packets), lossPct)
	}
	p.f("datagrams that fit, the same lost packets cost only what they carried: %.1f%% of the data, not %.1f%%.\n",
		pctU(small.payload-small.deliveredData, small.payload), pctU(large.payload-large.deliveredData, large.payload))
	p.f("A reliable protocol on top pays the same way: one lost fragment costs it the whole %d-byte datagram\n", fragDatagram)
	p.f("again; one lost small datagram, at most %d bytes.\n", piece)
	p.f("Find a path's MTU with: udpchat mtu HOST:PORT; stay below it, as QUIC and DNS do.\n")
	return p.err
}

// pctText formats a probability as the flags take it: 0.05 as "5%".
func pctText(p float64) string { return fmt.Sprintf("%.4g%%", p*100) }

// printer writes formatted text and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
