package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/netem"
	"github.com/udpchat/udpchat/dgram/pcap"
	"github.com/udpchat/udpchat/dgram/room"
)

// pcapFlag is --pcap, on every command that talks UDP.
func pcapFlag() cli.Flag {
	return &cli.StringFlag{Name: "pcap", Usage: "write every datagram sent and received to `FILE`, a pcapng capture that Wireshark and tshark open"}
}

// capture writes what a command sends and receives to its --pcap file:
// each datagram with synthesized IP and UDP headers (package pcap). A nil
// *capture captures nothing, so callers need no check.
type capture struct {
	w      *pcap.Writer
	path   string
	errw   io.Writer
	once   sync.Once
	failed error // the first write error, set once (the Writer keeps it too)
}

// openCapture creates the --pcap file, if the flag is set, with the
// command line as the section's comment and the given interfaces (one,
// named after the command, when none). It is called before any socket is
// opened: a file that cannot be created is a usage error.
func openCapture(c *cli.Context, ifaces ...pcap.Interface) (*capture, error) {
	path := c.String("pcap")
	if path == "" {
		if c.IsSet("pcap") {
			return nil, usagef(c, "--pcap needs a FILE")
		}
		return nil, nil
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return nil, usagef(c, "--pcap %s: its directory does not exist", path)
	}
	if len(ifaces) == 0 {
		ifaces = []pcap.Interface{{Name: "udpchat " + c.Command.Name}}
	}
	w, err := pcap.Create(path, pcap.Options{Comment: "udpchat " + strings.Join(os.Args[1:], " "), Interfaces: ifaces})
	if err != nil {
		return nil, usagef(c, "--pcap: %v", err)
	}
	return &capture{w: w, path: path, errw: c.App.ErrWriter}, nil
}

// note records a write error once, on stderr; the Writer refuses every
// later packet with the same error, so the capture stops there.
func (cp *capture) note(err error) {
	cp.once.Do(func() {
		cp.failed = err
		fmt.Fprintf(cp.errw, "warning: --pcap %s: %v (the capture stops here)\n", cp.path, err)
	})
}

// record writes one datagram on interface iface.
func (cp *capture) record(iface int, dir pcap.Direction, from, to netip.AddrPort, b []byte, ttl int, comment string) {
	if cp == nil {
		return
	}
	p := pcap.Packet{Time: time.Now(), Src: from, Dst: to, Payload: b, Dir: dir, Interface: iface, Comment: comment}
	if ttl > 0 && ttl < 256 {
		p.TTL = uint8(ttl)
	}
	if err := cp.w.WriteUDP(&p); err != nil {
		cp.note(err)
	}
}

// sent records a datagram this program sent.
func (cp *capture) sent(from, to netip.AddrPort, b []byte) {
	cp.record(0, pcap.Out, from, to, b, 0, "")
}

// askTTL asks the kernel for the TTL of each datagram read on c (a
// socket read through a dgram.Reader), so that the capture records the
// TTL a datagram arrived with rather than a made-up 64; ex explains it.
// Without a capture it does nothing.
func (cp *capture) askTTL(c *net.UDPConn, ex *explainer) error {
	if cp == nil {
		return nil
	}
	if err := dgram.EnableTTL(c); err != nil {
		return err
	}
	ex.recvTTL(c)
	return nil
}

// received records a datagram this program received, with the TTL it
// arrived with when known (0: not).
func (cp *capture) received(from, to netip.AddrPort, b []byte, ttl int) {
	cp.record(0, pcap.In, from, to, b, ttl, "")
}

// sentOn records a datagram sent on the connected socket c.
func (cp *capture) sentOn(c *net.UDPConn, b []byte) {
	if cp == nil {
		return
	}
	cp.sent(dgram.LocalAddrPort(c), remoteAddrPort(c), b)
}

// receivedOn records a datagram d read from c.
func (cp *capture) receivedOn(c *net.UDPConn, d dgram.Datagram) {
	if cp == nil {
		return
	}
	to := d.To
	if !to.IsValid() {
		to = dgram.LocalAddrPort(c)
	}
	cp.received(d.From, to, d.Data, d.TTL)
}

// proxyTap is the proxy's Tap for --pcap: the client side on interface
// 0, the server side on interface 1; nil without a capture.
func (cp *capture) proxyTap() func(side netem.Side, sent bool, from, to netip.AddrPort, b []byte) {
	if cp == nil {
		return nil
	}
	return func(side netem.Side, sent bool, from, to netip.AddrPort, b []byte) {
		dir := pcap.In
		if sent {
			dir = pcap.Out
		}
		cp.record(int(side), dir, from, to, b, 0, "")
	}
}

// remoteAddrPort is a connected socket's peer, or the zero value.
func remoteAddrPort(c *net.UDPConn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.UDPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// close flushes and closes the file, and says what it holds on stderr.
// It returns the first write error: a capture that failed is not a
// success.
func (cp *capture) close() error {
	if cp == nil {
		return nil
	}
	err := cp.w.Close()
	if cp.failed != nil {
		return fmt.Errorf("--pcap %s: %w", cp.path, cp.failed)
	}
	if err != nil {
		return fmt.Errorf("--pcap %s: %w", cp.path, err)
	}
	fmt.Fprintf(cp.errw, "capture: %s written to %s (tshark -r %s, or open it in Wireshark)\n", plural(cp.w.Packets(), "packet"), cp.path, cp.path)
	return nil
}

// closeCapture closes cp when a command ends and keeps the first error.
func closeCapture(cp *capture, err *error) {
	if cerr := cp.close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// writer is the capture's Writer, or nil.
func (cp *capture) writer() *pcap.Writer {
	if cp == nil {
		return nil
	}
	return cp.w
}

// openDemoCapture opens demo's --pcap: the scenarios of numbered
// datagrams record each datagram as it enters the link (interface 0, with
// the link's decision as its comment) and as it leaves it (interface 1);
// fragments records what the receiver got of each half.
func openDemoCapture(c *cli.Context, names []string) (*capture, error) {
	if c.String("pcap") == "" && !c.IsSet("pcap") {
		return nil, nil
	}
	if len(names) != 1 || names[0] == "boundaries" || names[0] == "reliable" {
		return nil, usagef(c, "--pcap captures one scenario of datagrams (loss, burst, reorder, duplicate, fragments, or the default)")
	}
	if names[0] == "fragments" {
		return openCapture(c,
			pcap.Interface{Name: "fragmented", Description: "the receiver: 9000-byte datagrams in 7 fragments each, on a 1500-byte path"},
			pcap.Interface{Name: "datagrams that fit", Description: "the receiver: the same data in datagrams of at most 1472 bytes"})
	}
	return openCapture(c,
		pcap.Interface{Name: "sender", Description: "datagrams as they enter the impaired link; the comment says what the link decided"},
		pcap.Interface{Name: "receiver", Description: "datagrams as the link delivered them"})
}

// decisionText says what the link decided for a datagram, for its
// comment in a capture.
func decisionText(d *netem.Decision) string {
	if d.Drop {
		return "dropped by the link (" + d.Cause.String() + "): it never arrives"
	}
	var parts []string
	if d.Dup {
		parts = append(parts, "duplicated: it arrives twice")
	}
	if d.Corrupt {
		parts = append(parts, fmt.Sprintf("corrupted: bit %d flipped", d.Bit))
	}
	if d.Hold || d.Swap {
		parts = append(parts, "held back: later datagrams overtake it")
	}
	if d.Delay > 0 {
		parts = append(parts, fmt.Sprintf("delayed %v", d.Delay.Round(time.Microsecond)))
	}
	if len(parts) == 0 {
		return "delivered"
	}
	return strings.Join(parts, "; ")
}

// tap returns bc recording to the capture (interface 0), or bc itself
// without one.
func (cp *capture) tap(bc dgram.BatchConn) dgram.BatchConn {
	if cp == nil {
		return bc
	}
	return pcap.NewConn(bc, cp.w, 0)
}

// tapGroup returns a multicast room's socket recording to the capture
// (interface 0) with what the socket does not report itself: the source
// the kernel puts on what it sends (it is bound to the wildcard
// address), the group as the destination of what it reads, and its TTL.
func (cp *capture) tapGroup(s *room.GroupSocket) dgram.BatchConn {
	if cp == nil {
		return s
	}
	o := pcap.ConnOptions{Dst: s.Group}
	if s.Source.IsValid() {
		o.Src = netip.AddrPortFrom(s.Source, s.Group.Port())
	}
	if s.TTL > 0 && s.TTL < 256 {
		o.TTL = uint8(s.TTL)
	}
	return pcap.NewConnOptions(s, cp.w, 0, o)
}
