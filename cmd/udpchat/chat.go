package main

import (
	"bufio"
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
			"them to yet). Works with pipes as well as a terminal. With --key-file (or UDPCHAT_KEY),\n" +
			"every line is sealed, and only datagrams sealed under the same key are shown (or can\n" +
			"become the peer); the others are counted. At the end it says how many lines went each\n" +
			"way.\n\n" +
			"Examples:\n" +
			"  udpchat chat --bind 127.0.0.1:9000         # terminal 1: wait for a peer\n" +
			"  udpchat chat 127.0.0.1:9000                # terminal 2: start talking",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bind", Aliases: []string{"b"}, Usage: "bind the local side to `ADDR`; without HOST:PORT, wait there for a peer"},
			keyFileFlag(),
			&cli.GenericFlag{Name: "timeout", Aliases: []string{"t"}, Value: &durationValue{}, Usage: "end the chat after `D` with no line sent or received (0: never)"},
		},
		Action: runChat,
	}
}

func runChat(c *cli.Context) error {
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
	var conn *net.UDPConn
	if peer.IsValid() {
		conn, err = dgram.DialAddrPort(peer, local)
	} else {
		conn, err = dgram.ListenAddrPort(local)
	}
	if err != nil {
		return err
	}
	ch := &chat{conn: conn, timeout: durationFlag(c, "timeout"), activity: make(chan struct{}, 1), connected: peer.IsValid(), peer: peer,
		out: &lockedWriter{w: c.App.Writer}, errw: &lockedWriter{w: c.App.ErrWriter}}
	if ch.keys, err = newKeyring(key); err != nil {
		conn.Close()
		return err
	}
	if peer.IsValid() {
		fmt.Fprintf(ch.errw, "chatting with %s from %s; type a line and press Enter to send it; \"exit\" or Ctrl-D ends\n", peer, dgram.LocalAddrPort(conn))
	} else {
		fmt.Fprintf(ch.errw, "listening on %s (UDP): waiting for the first datagram to learn the peer; \"exit\" or Ctrl-D ends\n", dgram.LocalAddrPort(conn))
	}
	return ch.run(c.Context, c.App.Reader)
}

type chat struct {
	conn      *net.UDPConn
	connected bool
	out, errw io.Writer
	keys      *keyring // --key-file: seal is used by the sender, open by the receiver
	timeout   time.Duration
	activity  chan struct{} // the receiver's datagrams, for --timeout

	sent atomic.Uint64 // lines sent
	recv atomic.Uint64 // lines received

	mu       sync.Mutex
	peer     netip.AddrPort // learned from the first datagram when not connected
	rejected seal.Rejections
}

// bye prints how the chat ended and what went across.
func (ch *chat) bye(how string) {
	ch.mu.Lock()
	rej := ch.rejected
	ch.mu.Unlock()
	s := fmt.Sprintf("%s: sent %s, received %d", how, plural(ch.sent.Load(), "line"), ch.recv.Load())
	if ch.keys != nil {
		s += "; sealed, " + rejectedText(rej)
	}
	fmt.Fprintln(ch.errw, s)
}

func (ch *chat) getPeer() netip.AddrPort {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.peer
}

func (ch *chat) run(ctx context.Context, stdin io.Reader) error {
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

	// Reading stdin cannot be interrupted, so it has its own goroutine; it
	// ends at EOF, which a terminal's Ctrl-D or a closed pipe delivers.
	lines := make(chan []byte)
	stop := make(chan struct{})
	defer close(stop)
	go readLines(stdin, lines, stop)

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
	for {
		select {
		case <-ctx.Done():
			ch.bye("interrupted; bye")
			return nil
		case <-idle:
			ch.bye(fmt.Sprintf("nothing sent or received for %v (--timeout); bye", ch.timeout))
			return nil
		case <-ch.activity:
			active()
		case err := <-recvDone:
			return err
		case line, ok := <-lines:
			if !ok || string(bytes.TrimSpace(line)) == "exit" {
				ch.bye("bye")
				return nil
			}
			ch.send(line)
			active()
		}
	}
}

// readLines sends each line of r, without its line ending, on lines, and
// closes lines at EOF or when stop is closed.
func readLines(r io.Reader, lines chan<- []byte, stop <-chan struct{}) {
	defer close(lines)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			select {
			case lines <- line:
			case <-stop:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (ch *chat) send(line []byte) {
	peer := ch.getPeer()
	if !peer.IsValid() {
		fmt.Fprintf(ch.errw, "no peer yet: this line was not sent (nobody has sent a datagram to %s yet)\n", dgram.LocalAddrPort(ch.conn))
		return
	}
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
	if ch.connected {
		_, err = ch.conn.Write(line)
	} else {
		_, err = ch.conn.WriteToUDPAddrPort(line, peer)
	}
	if err != nil {
		err = dgram.Classify("send", peer.String(), err)
		if errors.Is(err, dgram.ErrRefused) {
			// The refusal answers an earlier datagram; this one was not
			// sent either. Try once more.
			fmt.Fprintf(ch.errw, "%s refused an earlier line: nobody is listening there (yet)\n", peer)
			if _, err = ch.conn.Write(line); err == nil {
				return
			}
			err = dgram.Classify("send", peer.String(), err)
		}
		fmt.Fprintf(ch.errw, "not sent: %v\n", err)
	}
}

// receive prints datagrams as they arrive until the socket is closed.
func (ch *chat) receive() error {
	r := dgram.NewReader(ch.conn, 0)
	for {
		d, err := r.Read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, dgram.ErrRefused) {
				fmt.Fprintf(ch.errw, "%s refused a line: nobody is listening there (yet); it was lost\n", ch.getPeer())
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
		ch.recv.Add(1)
		select {
		case ch.activity <- struct{}{}:
		default:
		}
		ch.mu.Lock()
		if !ch.peer.IsValid() {
			ch.peer = d.From
			fmt.Fprintf(ch.errw, "chatting with %s\n", d.From)
		}
		ch.mu.Unlock()
		text := bytes.TrimSuffix(bytes.TrimSuffix(d.Data, []byte("\n")), []byte("\r"))
		if _, err := fmt.Fprintf(ch.out, "%s> %s\n", d.From, showPayload(text)); err != nil {
			return err
		}
	}
}
