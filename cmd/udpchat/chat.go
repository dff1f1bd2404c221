package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seal"
)

func chatCommand() *cli.Command {
	return &cli.Command{
		Name:      "chat",
		Usage:     "interactive two-way chat over UDP",
		ArgsUsage: "[HOST:PORT]",
		Description: "Each line you type is sent as one datagram; lines received are printed as they\n" +
			"arrive, prefixed by the sender's address. \"exit\" or Ctrl-D ends the chat.\n" +
			"With --bind and no HOST:PORT, it waits for the first datagram and chats with\n" +
			"whoever sent it; lines typed before that are not sent (there is nobody to send\n" +
			"them to yet).\n\n" +
			"Who the peer is, with --bind: the first address that sends a datagram. A datagram from\n" +
			"another address is refused (shown on stderr, not printed, not answered) while the peer\n" +
			"is there; once the peer is gone, the last address refused (or the next one to write)\n" +
			"becomes the peer, and the switch is shown. The peer is gone when a line sent to it\n" +
			"bounced (ICMP port unreachable: nothing listens there any more), or when it has sent\n" +
			"nothing for --peer-idle (default 30s). Without --bind, a line that bounces says the peer\n" +
			"is gone, and a datagram from it later says it is back; each later line that bounces is\n" +
			"said to be lost too, and the lines that bounced are counted at the end.\n\n" +
			"On a terminal, the line you type stays at the bottom, behind a prompt, and what arrives\n" +
			"is printed above it (backspace, Ctrl-U, left/right and up/down for history work). Works\n" +
			"with pipes as well as a terminal. With --key-file (or UDPCHAT_KEY),\n" +
			"every line is sealed, and only datagrams sealed under the same key are shown (or can\n" +
			"become the peer); the others are counted. At the end it says how many lines went each\n" +
			"way.\n\n" +
			"Examples:\n" +
			"  udpchat chat --bind 127.0.0.1:9000         # terminal 1: wait for a peer\n" +
			"  udpchat chat 127.0.0.1:9000                # terminal 2: start talking",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bind", Aliases: []string{"s"}, Usage: "bind the local side to `ADDR`; without HOST:PORT, wait there for a peer"},
			keyFileFlag(),
			pcapFlag(),
			explainFlag(),
			&cli.GenericFlag{Name: "timeout", Aliases: []string{"w"}, Value: &durationValue{}, Usage: "end the chat after `D` with no line sent or received (0: never)"},
			&cli.GenericFlag{Name: "peer-idle", Value: &durationValue{d: defaultPeerIdle}, Usage: "with --bind, let another address become the peer once the peer has sent nothing for `D`"},
			newlineFlag(), crlfFlag(),
			lingerFlag(),
		},
		Action: runChat,
	}
}

func runChat(c *cli.Context) (err error) {
	if c.NArg() > 1 {
		return usagef(c, "chat takes one peer address, got %d arguments", c.NArg())
	}
	bind := c.String("bind")
	if c.NArg() == 0 && bind == "" {
		return usagef(c, "chat needs the peer's HOST:PORT, or --bind ADDR to wait for a peer")
	}
	key, err := loadKey(c)
	if err != nil {
		return err
	}
	end, err := lineEnding(c)
	if err != nil {
		return err
	}
	linger, err := lingerFor(c)
	if err != nil {
		return err
	}
	cp, err := openCapture(c)
	if err != nil {
		return err
	}
	defer closeCapture(cp, &err)
	var peer, local netip.AddrPort
	if bind != "" {
		if local, err = dgram.ResolveListen(c.Context, bind); err != nil {
			return err
		}
	}
	if c.NArg() == 1 {
		if peer, err = dgram.Resolve(c.Context, c.Args().First()); err != nil {
			return err
		}
	}
	peerIdle := durationFlag(c, "peer-idle")
	if c.IsSet("peer-idle") && bind == "" {
		return usagef(c, "--peer-idle needs --bind: without it, the peer is the address given")
	}
	if peerIdle <= 0 {
		return usagef(c, "--peer-idle must be more than 0")
	}
	var conn *net.UDPConn
	if peer.IsValid() {
		conn, err = dgram.DialAddrPort(peer, local)
	} else {
		conn, err = dgram.ListenAddrPort(local)
	}
	if err != nil {
		return err
	}
	ex := newExplainer(c)
	ex.opened(conn, peer.IsValid(), local)
	if err := cp.askTTL(conn, ex); err != nil {
		conn.Close()
		return err
	}
	defer ex.close()
	ch := &chat{conn: conn, timeout: durationFlag(c, "timeout"), activity: make(chan struct{}, 1), connected: peer.IsValid(), peer: peer,
		peerIdle: peerIdle, now: time.Now, end: end, linger: linger, cap: cp, ex: ex}
	if ch.keys, err = newKeyring(key); err != nil {
		conn.Close()
		return err
	}
	if !ch.connected {
		ch.recvErr = dgram.EnableRecvErr(conn)
		ex.recvErr(conn)
		// --bind: answer from the address the peer wrote to
		cfg := dgram.ConnConfig{Dst: true, Batch: 1, Tracer: ex.tracer()}
		if ch.bc, err = dgram.NewConn(conn, cfg); err != nil {
			conn.Close()
			return err
		}
		ex.connOptions(conn, cfg)
	}
	con := openConsole(c.App.Reader, c.App.Writer, c.App.ErrWriter, "> ")
	defer con.close()
	ch.out, ch.errw = con.out, con.errw
	if ex != nil {
		ex.w = con.errw // the lines go where the console's messages go
	}
	if peer.IsValid() {
		fmt.Fprintf(ch.errw, "chatting with %s from %s; type a line and press Enter to send it; \"exit\" or Ctrl-D ends\n", peer, dgram.LocalAddrPort(conn))
	} else {
		fmt.Fprintf(ch.errw, "listening on %s (UDP): waiting for the first datagram to learn the peer; \"exit\" or Ctrl-D ends\n", dgram.LocalAddrPort(conn))
	}
	ctx, cancel := con.context(c.Context) // Ctrl-C at the prompt, too
	defer cancel()
	err = ch.run(ctx, con.lines)
	if err == nil && con.interrupted() {
		return cli.Exit("", 130) // as a Ctrl-C from the terminal would (run maps signals)
	}
	return err
}

// defaultPeerIdle is how long chat --bind keeps a silent peer before
// another address may take its place.
const defaultPeerIdle = 30 * time.Second

type chat struct {
	cap       *capture   // --pcap
	ex        *explainer // --explain
	conn      *net.UDPConn
	bc        *dgram.Conn // --bind: conn, to send from the address the peer contacted
	connected bool
	out, errw io.Writer
	keys      *keyring      // --key-file: seal is used by the sender, open by the receiver
	end       []byte        // --newline, --crlf: appended to each line sent
	linger    time.Duration // --linger: after the end of piped input, wait this long for replies
	timeout   time.Duration
	activity  chan struct{} // the receiver's datagrams, for --timeout

	sent atomic.Uint64 // lines sent
	recv atomic.Uint64 // lines received

	peerIdle time.Duration // --bind: a peer silent this long may be replaced
	recvErr  bool          // --bind: ICMP errors reach the unconnected socket
	now      func() time.Time

	mu        sync.Mutex
	peer      netip.AddrPort // learned from the first datagram when not connected
	heard     time.Time      // the last datagram from peer
	gone      bool           // a line to peer bounced: nothing listens there
	bounced   uint64         // lines that bounced (ICMP port unreachable from the peer)
	candidate netip.AddrPort // the last address refused while the peer was there
	candAt    time.Time
	refused   map[netip.AddrPort]uint64 // datagrams refused, by address (bounded)
	refusedN  uint64
	// --bind: the address the peer, and the candidate, last wrote to (To,
	// IfIndex), for the replies. Kept with them, not in a table of every
	// sender: a table bounded to the first senders left a peer that came
	// after 65 others (strangers, junk) answered from the wrong address.
	peerTo, candTo dgram.Datagram
	rejected       seal.Rejections
}

// maxRefusedShown bounds the table of refused addresses; past it,
// refusals are counted but not shown one by one.
const maxRefusedShown = 64

// bye prints how the chat ended and what went across.
func (ch *chat) bye(how string) {
	ch.mu.Lock()
	rej := ch.rejected
	ch.mu.Unlock()
	s := fmt.Sprintf("%s: sent %s, received %d", how, plural(ch.sent.Load(), "line"), ch.recv.Load())
	ch.mu.Lock()
	if ch.bounced > 0 {
		s += fmt.Sprintf("; %d bounced (nothing listened there: lost)", ch.bounced)
	}
	ch.mu.Unlock()
	if ch.keys != nil {
		s += "; sealed, " + rejectedText(rej)
	}
	ch.mu.Lock()
	if ch.refusedN > 0 {
		s += fmt.Sprintf("; refused %s from %s other than the peer", plural(ch.refusedN, "datagram"), plural(uint64(len(ch.refused)), "address"))
	}
	ch.mu.Unlock()
	fmt.Fprintln(ch.errw, s)
}

func (ch *chat) getPeer() netip.AddrPort {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.peer
}

func (ch *chat) run(ctx context.Context, lines <-chan []byte) error {
	var wg sync.WaitGroup
	recvDone := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		recvDone <- ch.receive()
	}()
	defer func() {
		ch.conn.Close() // wakes the receiver
		wg.Wait()
	}()

	// Lines come from the console's goroutine (reading stdin cannot be
	// interrupted); it ends at EOF, which Ctrl-D or a closed pipe delivers.
	var idle <-chan time.Time
	var timer *time.Timer
	if ch.timeout > 0 {
		timer = time.NewTimer(ch.timeout)
		defer timer.Stop()
		idle = timer.C
	}
	active := func() {
		if timer != nil {
			timer.Reset(ch.timeout)
		}
	}
	var lingering <-chan time.Time // after the end of piped input
	var lingerTimer *time.Timer
	for {
		select {
		case <-ctx.Done():
			ch.bye("interrupted; bye")
			return nil
		case <-lingering:
			fmt.Fprintf(ch.errw, "end of input, and nothing more arrived for %v (--linger)\n", ch.linger)
			ch.bye("bye")
			return nil
		case <-idle:
			ch.bye(fmt.Sprintf("nothing sent or received for %v (--timeout); bye", ch.timeout))
			return nil
		case <-ch.activity:
			active()
			if lingerTimer != nil {
				lingerTimer.Reset(ch.linger)
			}
		case err := <-recvDone:
			return err
		case line, ok := <-lines:
			if !ok && ch.linger > 0 {
				lines, lingerTimer = nil, time.NewTimer(ch.linger)
				defer lingerTimer.Stop()
				lingering = lingerTimer.C
				continue
			}
			if !ok || string(bytes.TrimSpace(line)) == "exit" {
				ch.bye("bye")
				return nil
			}
			ch.send(line)
			active()
		}
	}
}

func (ch *chat) send(line []byte) {
	ch.mu.Lock()
	peer, gone := ch.peer, ch.gone
	ch.mu.Unlock()
	if !peer.IsValid() {
		fmt.Fprintf(ch.errw, "no peer yet: this line was not sent (nobody has sent a datagram to %s yet)\n", dgram.LocalAddrPort(ch.conn))
		return
	}
	if gone && !ch.connected {
		fmt.Fprintf(ch.errw, "not sent: %s is gone (nothing listens there); the next address to write becomes the peer\n", peer)
		return
	}
	line = withLineEnd(line, ch.end)
	check := dgram.CheckSize
	if ch.keys != nil {
		check = sealedLimit
	}
	if err := check(len(line), peer); err != nil {
		fmt.Fprintf(ch.errw, "not sent: %v\n", err)
		return
	}
	var err error
	if ch.keys != nil {
		if line, err = ch.keys.seal(line); err != nil {
			fmt.Fprintf(ch.errw, "not sent: %v\n", err)
			return
		}
	}
	defer func() {
		if err == nil {
			ch.sent.Add(1)
		}
	}()
	write := func() error {
		if ch.connected {
			_, err := ch.ex.write(ch.conn, line) // ch.conn.Write, explained with --explain
			if err == nil {
				ch.cap.sentOn(ch.conn, line)
			}
			return err
		}
		// from the address the peer wrote to, so that a peer on a
		// connected socket hears us (a socket bound to :PORT would
		// otherwise answer from whichever address the routes pick)
		ch.mu.Lock()
		var to dgram.Datagram
		if ch.peer == peer {
			to = ch.peerTo
		}
		ch.mu.Unlock()
		_, err := ch.bc.WriteBatch([]dgram.Message{{Buf: line, Addr: peer, Local: to.To, IfIndex: to.IfIndex}})
		if err == nil {
			from := to.To
			if !from.IsValid() {
				from = dgram.LocalAddrPort(ch.conn)
			}
			ch.cap.sent(from, peer, line)
		}
		return err
	}
	if err = write(); err != nil {
		err = dgram.Classify("send", peer.String(), err)
		if errors.Is(err, dgram.ErrRefused) {
			// The refusal answers an earlier datagram; this one was not
			// sent either. Try once more.
			ch.peerGone(peer)
			if err = write(); err == nil {
				return
			}
			err = dgram.Classify("send", peer.String(), err)
		}
		fmt.Fprintf(ch.errw, "not sent: %v\n", err)
	}
}

// peerGone records that a datagram to addr bounced: nothing listens
// there. If addr is the peer, it is gone; with --bind, the last address
// refused meanwhile (if recent) becomes the peer.
func (ch *chat) peerGone(addr netip.AddrPort) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if addr != ch.peer {
		return
	}
	ch.bounced++
	if ch.gone {
		// A line sent while the peer was gone (a connected chat still
		// sends, in case it comes back) bounced too: lost, and said so.
		fmt.Fprintf(ch.errw, "%s is still gone: nothing listens there (ICMP port unreachable); that line was lost too\n", addr)
		return
	}
	ch.gone = true
	if ch.connected {
		fmt.Fprintf(ch.errw, "%s is gone: nothing listens there (ICMP port unreachable); the last line was lost\n", addr)
		return
	}
	fmt.Fprintf(ch.errw, "%s is gone: nothing listens there (ICMP port unreachable); the last line was lost\n", addr)
	if ch.candidate.IsValid() && ch.now().Sub(ch.candAt) < ch.peerIdle {
		ch.switchPeer(ch.candidate, ch.candTo, "it wrote while "+addr.String()+" was the peer")
	} else {
		fmt.Fprintf(ch.errw, "the next address to send a datagram becomes the peer\n")
	}
}

// switchPeer makes addr the peer, which last wrote to to.To; under ch.mu.
func (ch *chat) switchPeer(addr netip.AddrPort, to dgram.Datagram, why string) {
	old := ch.peer
	ch.peer, ch.peerTo, ch.gone, ch.heard = addr, to, false, ch.now()
	ch.candidate, ch.candTo = netip.AddrPort{}, dgram.Datagram{}
	fmt.Fprintf(ch.errw, "now chatting with %s instead of %s (%s)\n", addr, old, why)
}

// accept decides whether datagram d is the peer's (true), by the rule of
// the command's description, and says what it decided.
func (ch *chat) accept(d *dgram.Datagram) bool {
	from := d.From
	to := dgram.Datagram{To: d.To, IfIndex: d.IfIndex}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	now := ch.now()
	switch {
	case !ch.peer.IsValid():
		ch.peer, ch.peerTo, ch.heard = from, to, now
		fmt.Fprintf(ch.errw, "chatting with %s\n", from)
		return true
	case from == ch.peer:
		if to.To.IsValid() {
			ch.peerTo = to
		}
		if ch.gone {
			ch.gone = false
			fmt.Fprintf(ch.errw, "%s is back\n", from)
		}
		ch.heard = now
		return true
	case ch.connected:
		return false // a connected socket hears its peer only
	case ch.gone:
		ch.switchPeer(from, to, ch.peer.String()+" is gone")
		return true
	case now.Sub(ch.heard) >= ch.peerIdle:
		ch.switchPeer(from, to, fmt.Sprintf("%s has sent nothing for %v", ch.peer, now.Sub(ch.heard).Round(time.Second)))
		return true
	}
	ch.refusedN++
	ch.candidate, ch.candTo, ch.candAt = from, to, now
	if ch.refused == nil {
		ch.refused = make(map[netip.AddrPort]uint64)
	}
	if _, seen := ch.refused[from]; !seen && len(ch.refused) < maxRefusedShown {
		ch.refused[from] = 0
		fmt.Fprintf(ch.errw, "refused a datagram from %s: chatting with %s, who is still there (heard %v ago); %s becomes the peer once %s is gone\n",
			from, ch.peer, now.Sub(ch.heard).Round(time.Second), from, ch.peer)
	}
	if _, ok := ch.refused[from]; ok {
		ch.refused[from]++
	}
	return false
}

// receive prints datagrams as they arrive until the socket is closed.
func (ch *chat) receive() error {
	r := dgram.NewReader(ch.conn, 0)
	r.SetTracer(ch.ex.tracer())
	for {
		d, err := r.Read()
		if err == nil {
			ch.cap.receivedOn(ch.conn, d)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, dgram.ErrRefused) {
				if ch.connected {
					ch.peerGone(ch.getPeer())
				}
				// the destinations of the datagrams that bounced: port
				// unreachable only (at most 16; the rest are dropped)
				var refused []netip.AddrPort
				dgram.DrainUnreachable(ch.conn, func(a netip.AddrPort, port bool) {
					if port && len(refused) < 16 {
						refused = append(refused, a)
					}
				})
				for _, a := range refused {
					ch.peerGone(a)
				}
				continue
			}
			return err
		}
		if ch.keys != nil {
			if c := ch.keys.open(&d); c != seal.None {
				ch.mu.Lock()
				ch.rejected[c]++
				ch.mu.Unlock()
				fmt.Fprintf(ch.errw, "rejected a datagram from %s: %s: %s\n", d.From, c, causeText(c))
				continue
			}
		}
		if !ch.accept(&d) {
			continue
		}
		ch.recv.Add(1)
		select {
		case ch.activity <- struct{}{}:
		default:
		}
		text := bytes.TrimSuffix(bytes.TrimSuffix(d.Data, []byte("\n")), []byte("\r"))
		if _, err := fmt.Fprintf(ch.out, "%s> %s\n", d.From, showPayload(text)); err != nil {
			return err
		}
	}
}
