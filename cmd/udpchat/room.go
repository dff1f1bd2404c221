package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/room"
	"github.com/udpchat/udpchat/dgram/seal"
)

func roomCommand() *cli.Command {
	sub := []*cli.Command{roomServeCommand(), roomJoinCommand()}
	for _, s := range sub {
		name := "room " + s.Name
		s.OnUsageError = func(c *cli.Context, err error, _ bool) error { return usageErr(name, flagErrText(name, err)) }
		if s.Before == nil {
			s.Before = checkHostPortForm
		}
	}
	return &cli.Command{
		Name:  "room",
		Usage: "group messaging: a room server, or a serverless room over IP multicast",
		Description: "A room is a group chat over UDP: every line a member types reaches every other member\n" +
			"exactly once and in order, through loss, duplication and reordering, and members see\n" +
			"who joins, leaves or times out. A room has a server (room serve), or none: a multicast\n" +
			"room on one link (room join --group), where members repair each other's losses.\n\n" +
			"Examples:\n" +
			"  udpchat room serve                               # a room server on 127.0.0.1:9000\n" +
			"  udpchat room join 127.0.0.1:9000 --nick alice    # join it, and type\n" +
			"  udpchat room join --group 239.255.0.1:9000 --nick bob   # a multicast room on loopback",
		HideHelpCommand: true,
		Subcommands:     sub,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef(c, "room needs a subcommand: serve or join")
			}
			return usagef(c, "room has no subcommand %q: use serve or join", c.Args().First())
		},
	}
}

// roomJSON is one JSON line of a room command; fields a type does not use
// are left out.
type roomJSON struct {
	Type   string   `json:"type"`
	From   string   `json:"from,omitempty"`
	Text   *string  `json:"text,omitempty"`
	ID     uint64   `json:"id,omitempty"`
	Nick   string   `json:"nick,omitempty"`
	Nicks  []string `json:"nicks,omitempty"`
	Reason string   `json:"reason,omitempty"`
	Count  uint64   `json:"count,omitempty"`
	To     string   `json:"to,omitempty"`
}

// ---- room serve ----

func roomServeCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run a room server (a hub): members join it and it relays their lines",
		ArgsUsage: "[ADDR]",
		Description: "Serves a room on ADDR (default " + dgram.DefaultListenAddr + "; :PORT for every interface) until\n" +
			"Ctrl-C. Members join with `udpchat room join ADDR --nick NAME`; the server relays\n" +
			"each member's lines to every other member, reliably and in order, and tells them who\n" +
			"joins, leaves and times out. It prints joins, leaves and refused joins, and at the end\n" +
			"what it relayed. On a wildcard address it answers each member from the address the\n" +
			"member wrote to.\n\n" +
			"It cannot be turned against others: it answers an address that has not joined with no\n" +
			"more than three times what it received, within a rate, and relays nothing to it.\n" +
			"Members (--max-members), line length (--max-text), lines a second per member (--rate)\n" +
			"and queued retransmissions are bounded and counted. With --key-file (or UDPCHAT_KEY),\n" +
			"only members with the key can join, read or speak.\n\n" +
			"Examples:\n" +
			"  udpchat room serve\n" +
			"  udpchat room serve :9000 --key-file room.key --max-members 20\n" +
			"  udpchat room serve 127.0.0.1:0 --json",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON lines: joins, leaves, refusals and a summary"},
			keyFileFlag(),
			pcapFlag(),
			&cli.IntFlag{Name: "max-members", Value: room.DefaultMaxMembers, Usage: "admit at most `N` members"},
			&cli.IntFlag{Name: "max-text", Value: room.DefaultMaxText, Usage: fmt.Sprintf("refuse lines over `BYTES` (at most %d)", room.MaxTextLimit)},
			&cli.IntFlag{Name: "rate", Value: room.DefaultRate, Usage: "relay at most `N` lines a second from each member (more wait)"},
			&cli.GenericFlag{Name: "member-timeout", Value: &durationValue{d: room.DefaultTimeout}, Usage: "announce a member that has sent nothing for `D` as timed out"},
		},
		Action: runRoomServe,
	}
}

func runRoomServe(c *cli.Context) (err error) {
	if c.NArg() > 1 {
		return usagef(c, "room serve takes one address, got %d arguments: %q", c.NArg(), c.Args().Slice())
	}
	addr := c.Args().First()
	if addr == "" {
		addr = dgram.DefaultListenAddr
	}
	if _, _, _, err := dgram.ParseListenAddr(addr); err != nil {
		return err
	}
	cfg := room.ServerConfig{MaxMembers: c.Int("max-members"), MaxText: c.Int("max-text"), Rate: c.Int("rate"),
		Timeout: durationFlag(c, "member-timeout")}
	switch {
	case cfg.MaxMembers < 1 || cfg.MaxMembers > 65536:
		return usagef(c, "--max-members must be from 1 to 65536, got %d", cfg.MaxMembers)
	case cfg.MaxText < 1 || cfg.MaxText > room.MaxTextLimit:
		return usagef(c, "--max-text must be from 1 to %d bytes, got %d", room.MaxTextLimit, cfg.MaxText)
	case cfg.Rate < 1 || cfg.Rate > 65535:
		return usagef(c, "--rate must be from 1 to 65535 lines a second, got %d", cfg.Rate)
	case cfg.Timeout <= room.DefaultKeepalive || cfg.Timeout > time.Hour:
		return usagef(c, "--member-timeout must be over %v (members send a keepalive every %v) and at most 1h", room.DefaultKeepalive, room.DefaultKeepalive)
	}
	key, err := loadKey(c)
	if err != nil {
		return err
	}
	cfg.Key = key
	cp, err := openCapture(c)
	if err != nil {
		return err
	}
	defer closeCapture(cp, &err)
	ap, err := dgram.ResolveListen(c.Context, addr)
	if err != nil {
		return err
	}
	conn, err := dgram.ListenAddrPort(ap)
	if err != nil {
		return err
	}
	// Dst: on a wildcard address, answer each member from the address it
	// wrote to. TTL: a capture records the TTL each datagram came with.
	uc, err := dgram.NewConn(conn, dgram.ConnConfig{Dst: true, TTL: cp != nil})
	if err != nil {
		conn.Close()
		return err
	}
	defer uc.Close()
	out := &lockedWriter{w: c.App.Writer}
	js := c.Bool("json")
	jw := newJSONWriter(out)
	cfg.Log = func(e room.ServerEvent) {
		if js {
			j := roomJSON{Nick: e.Nick}
			switch e.Type {
			case room.EventJoined:
				j.Type, j.From = "join", e.Addr.String()
				if e.Local.IsValid() {
					j.To = e.Local.String()
				}
			case room.EventLeft:
				j.Type, j.Reason = "leave", e.Reason
			case room.EventRefused:
				j.Type, j.From, j.Reason = "refused", e.Addr.String(), e.Reason
			}
			_ = jw.write(j)
			return
		}
		switch e.Type {
		case room.EventJoined:
			fmt.Fprintf(out, "* %s joined from %s\n", e.Nick, e.Addr)
		case room.EventLeft:
			fmt.Fprintf(out, "* %s %s\n", e.Nick, leaveWords(e.Reason))
		case room.EventRefused:
			fmt.Fprintf(out, "* refused %s from %s: %s\n", showPayload([]byte(e.Nick)), e.Addr, e.Reason)
		}
	}
	// Every datagram of the room goes through uc: a capture (--pcap) wraps
	// it here.
	srv, err := room.NewServer(cp.tap(uc), cfg)
	if err != nil {
		return err
	}
	local := dgram.LocalAddrPort(conn)
	sealed := ""
	if key != nil {
		sealed = ", sealed: members need the key"
	}
	fmt.Fprintf(c.App.ErrWriter, "room server listening on %s (UDP%s); join with: udpchat room join %s --nick NAME; Ctrl-C stops it\n",
		local, sealed, joinAddr(local))
	var failed error
	select {
	case <-c.Context.Done():
	case <-srv.Done():
		failed = srv.Err()
	}
	srv.Close()
	st := srv.Stats()
	if js {
		_ = jw.write(serveSummary(st, key != nil))
	} else {
		fmt.Fprintf(out, "room closed: %s joined (%d left, %d timed out, %d still there), %s refused; %s from members, %s to members; %s\n",
			plural(st.Joined, "member"), st.Left, st.TimedOut, st.Members, plural(st.Refused, "join"),
			plural(st.Messages, "line"), plural(st.Relayed, "delivery"), plural(st.Retransmits, "retransmission"))
		if d := serveDropped(st); d != "" {
			fmt.Fprintf(out, "not relayed or not answered: %s\n", d)
		}
		if key != nil {
			fmt.Fprintf(out, "sealed: %s\n", rejectedText(st.Rejected))
		}
	}
	if failed != nil {
		return fmt.Errorf("the room server stopped: %w", failed)
	}
	return cli.Exit("", 130)
}

// joinAddr is the address to give room join for a server bound to local.
func joinAddr(local netip.AddrPort) string {
	if local.Addr().IsUnspecified() {
		return netip.AddrPortFrom(netip.MustParseAddr(dgram.DefaultHost), local.Port()).String()
	}
	return local.String()
}

func leaveWords(reason string) string {
	if reason == "timeout" {
		return "timed out"
	}
	return "left"
}

// serveDropped lists the counters of what the server held back.
func serveDropped(st room.ServerStats) string {
	var parts []string
	for _, p := range []struct {
		n    uint64
		what string
	}{
		{st.RateLimited, "held back by --rate"},
		{st.BadMessages, "bad lines"},
		{st.Missed, "missed by full queues"},
		{st.Malformed, "malformed"},
		{st.Strangers, "from non-members"},
		{st.Suppressed, "replies suppressed (3x or rate)"},
	} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

func serveSummary(st room.ServerStats, keyed bool) any {
	type summary struct {
		Type        string            `json:"type"`
		Joined      uint64            `json:"joined"`
		Left        uint64            `json:"left"`
		TimedOut    uint64            `json:"timed_out"`
		Members     int               `json:"members"`
		Refused     uint64            `json:"refused"`
		Messages    uint64            `json:"messages"`
		Relayed     uint64            `json:"relayed"`
		Retransmits uint64            `json:"retransmits"`
		Duplicates  uint64            `json:"duplicates"`
		RateLimited uint64            `json:"rate_limited"`
		BadMessages uint64            `json:"bad_messages"`
		Missed      uint64            `json:"missed"`
		QueuedPeak  int               `json:"queued_peak"`
		Malformed   uint64            `json:"malformed"`
		Strangers   uint64            `json:"strangers"`
		Suppressed  uint64            `json:"suppressed"`
		Rejected    map[string]uint64 `json:"rejected,omitempty"`
	}
	s := summary{Type: "summary", Joined: st.Joined, Left: st.Left, TimedOut: st.TimedOut, Members: st.Members,
		Refused: st.Refused, Messages: st.Messages, Relayed: st.Relayed, Retransmits: st.Retransmits,
		Duplicates: st.Duplicates, RateLimited: st.RateLimited, BadMessages: st.BadMessages, Missed: st.Missed,
		QueuedPeak: st.QueuedPeak, Malformed: st.Malformed, Strangers: st.Strangers, Suppressed: st.Suppressed}
	if keyed {
		s.Rejected = st.Rejected.Map(true)
	}
	return s
}

// ---- room join ----

func roomJoinCommand() *cli.Command {
	return &cli.Command{
		Name:      "join",
		Usage:     "join a room: each line typed is a message to everyone in it",
		ArgsUsage: "HOST:PORT | --group GROUP:PORT",
		Description: "Joins the room served at HOST:PORT (udpchat room serve), or with --group the serverless\n" +
			"room of a multicast group, as --nick NAME. Each line typed is sent to every other member;\n" +
			"what they say is printed as <nick> text, with * lines for the member list on joining,\n" +
			"joins, leaves (* bob left, * carol timed out) and messages that could not be delivered\n" +
			"(* missed 3 messages from eve). \"exit\" or Ctrl-D leaves, announced to the others; the\n" +
			"command waits until everything it sent was delivered. stdin and stdout may be pipes:\n" +
			"`printf 'hi\\n' | udpchat room join HOST:PORT --nick bot` joins, says hi, and leaves once\n" +
			"the line is delivered. On a terminal, the line you type stays at the bottom and what\n" +
			"arrives is printed above it.\n\n" +
			"Nicks are 1 to 32 letters, digits, '-', '_' or '.', unique in a room (regardless of case).\n" +
			"A line longer than the room's limit (1000 bytes by default) is refused, and the limit\n" +
			"named. With --key-file (or UDPCHAT_KEY), everything is sealed: use the room's key.\n\n" +
			"Multicast rooms (--group) are for one link: TTL 1 (--ttl), and the interface must be\n" +
			"chosen: --iface, by default the loopback interface (this host only), since multicast\n" +
			"would otherwise follow the default route off this machine. Members find each other,\n" +
			"a second member with a nick is refused, and losses are repaired on request (NACK).\n\n" +
			"Exit status: 0 after leaving with everything delivered, 1 when the room refused the\n" +
			"nick, could not be reached or was lost, or a line could not be sent, 130 on Ctrl-C\n" +
			"(after saying goodbye).\n\n" +
			"Examples:\n" +
			"  udpchat room join 127.0.0.1:9000 --nick alice\n" +
			"  udpchat room join 127.0.0.1:9000 --nick logger --json > room.jsonl\n" +
			"  udpchat room join --group 239.255.0.1:9000 --nick bob\n" +
			"  udpchat room join --group 239.255.0.1:9000 --iface eth0 --nick bob    # the LAN",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nick", Usage: "speak as `NAME`"},
			&cli.StringFlag{Name: "group", Usage: "join the multicast room of `GROUP:PORT` (e.g. 239.255.0.1:9000) instead of a server"},
			&cli.StringFlag{Name: "iface", Usage: "with --group, use the interface `NAME` (default: loopback, this host only)"},
			&cli.IntFlag{Name: "ttl", Value: room.DefaultTTL, Usage: "with --group, send with TTL (hop limit) `N`: 1 keeps it on the link"},
			&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON lines: members, message, join, leave, missed, and a summary"},
			keyFileFlag(),
			pcapFlag(),
		},
		Action: runRoomJoin,
	}
}

// roomMember is what room join needs of a member, with or without a
// server.
type roomMember interface {
	Events() <-chan room.Event
	Done() <-chan struct{}
	Err() error
	Send(ctx context.Context, text string) error
	Leave(ctx context.Context) error
	Close() error
}

type joinOpts struct {
	nick   string
	server string
	group  netip.AddrPort
	iface  string
	ttl    int
	json   bool
	key    *seal.Key
}

func parseJoinOpts(c *cli.Context) (*joinOpts, error) {
	o := &joinOpts{nick: c.String("nick"), iface: c.String("iface"), ttl: c.Int("ttl"), json: c.Bool("json")}
	if o.nick == "" {
		return nil, usagef(c, "room join needs --nick NAME: the name the others see")
	}
	if err := room.CheckNick(o.nick); err != nil {
		return nil, usagef(c, "--nick: %s", strings.TrimPrefix(err.Error(), room.ErrBadNick.Error()+": "))
	}
	g := c.String("group")
	switch {
	case c.NArg() > 1:
		return nil, usagef(c, "room join takes one HOST:PORT, got %d arguments: %q", c.NArg(), c.Args().Slice())
	case c.NArg() == 1 && g != "":
		return nil, usagef(c, "give HOST:PORT (a server) or --group GROUP:PORT (multicast), not both")
	case c.NArg() == 0 && g == "":
		return nil, usagef(c, "room join needs the server's HOST:PORT, or --group GROUP:PORT for a multicast room")
	}
	if g == "" {
		for _, f := range []string{"iface", "ttl"} {
			if c.IsSet(f) {
				return nil, usagef(c, "--%s goes with --group only: a room with a server is reached by the routing table", f)
			}
		}
		o.server = c.Args().First()
	} else {
		ap, err := netip.ParseAddrPort(g)
		if err != nil || !ap.Addr().IsMulticast() || ap.Port() == 0 {
			return nil, usagef(c, "--group %s: want a multicast GROUP:PORT, such as 239.255.0.1:9000 or [ff15::1]:9000", g)
		}
		o.group = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if o.ttl < 1 || o.ttl > 255 {
			return nil, usagef(c, "--ttl must be from 1 to 255, got %d", o.ttl)
		}
	}
	var err error
	if o.key, err = loadKey(c); err != nil {
		return nil, err
	}
	return o, nil
}

func runRoomJoin(c *cli.Context) (err error) {
	o, err := parseJoinOpts(c)
	if err != nil {
		return err
	}
	cp, err := openCapture(c)
	if err != nil {
		return err
	}
	defer closeCapture(cp, &err)
	var m roomMember
	var where string
	if o.server != "" {
		server, err := dgram.Resolve(c.Context, o.server)
		if err != nil {
			return err
		}
		conn, err := dgram.DialAddrPort(server, netip.AddrPort{})
		if err != nil {
			return err
		}
		// TTL: a capture records the TTL each datagram came with.
		uc, err := dgram.NewConn(conn, dgram.ConnConfig{TTL: cp != nil})
		if err != nil {
			conn.Close()
			return err
		}
		defer uc.Close()
		// A capture (--pcap) wraps uc here.
		mem, err := room.Join(c.Context, cp.tap(uc), server, room.MemberConfig{Nick: o.nick, Key: o.key})
		if err != nil {
			return joinError(c, err, "the room at "+server.String())
		}
		m, where = mem, "the room at "+server.String()
	} else {
		ifi, err := pickIface(c, o.iface)
		if err != nil {
			return err
		}
		sock, err := room.ListenGroup(o.group, ifi, o.ttl)
		if err != nil {
			return fmt.Errorf("%v", strings.TrimPrefix(err.Error(), "room: "))
		}
		defer sock.Close()
		// A capture (--pcap) wraps sock here.
		g, err := room.JoinGroup(c.Context, cp.tapGroup(sock), sock.Group, room.GroupConfig{Nick: o.nick, Key: o.key})
		if err != nil {
			return joinError(c, err, "the group "+o.group.String())
		}
		m, where = g, fmt.Sprintf("the multicast room %s on %s (TTL %d)", o.group, ifi.Name, o.ttl)
	}
	con := openConsole(c.App.Reader, c.App.Writer, c.App.ErrWriter, o.nick+"> ")
	defer con.close()
	fmt.Fprintf(con.errw, "joined %s as %s; type a line and press Enter to send it; \"exit\" or Ctrl-D leaves\n", where, o.nick)
	j := &joiner{m: m, con: con, json: o.json, jw: newJSONWriter(con.out)}
	ctx, cancel := con.context(c.Context) // Ctrl-C at the prompt, too
	defer cancel()
	return j.run(ctx)
}

// pickIface returns the interface for a multicast room: --iface, or the
// loopback interface.
func pickIface(c *cli.Context, name string) (*net.Interface, error) {
	if name == "" {
		return room.LoopbackInterface()
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, usagef(c, "--iface %s: no such interface here (see `ip link`)", name)
	}
	return ifi, nil
}

// joinError turns a failed join into the command's error.
func joinError(c *cli.Context, err error, where string) error {
	var re *room.RefusedError
	switch {
	case errors.As(err, &re):
		hint := ""
		if re.Code == room.RefuseNickTaken {
			hint = "; pick another with --nick"
		}
		return fmt.Errorf("%s refused to let %s in: %s%s", where, c.String("nick"), showPayload([]byte(re.Reason)), hint)
	case errors.Is(err, context.Canceled):
		return cli.Exit("", 130)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "room: "))
}

// joiner runs room join once joined: lines in, events out.
type joiner struct {
	m    roomMember
	con  *console
	json bool
	jw   *jsonWriter

	sent, received, notSent uint64
}

func (j *joiner) run(ctx context.Context) error {
	lines := j.con.lines
	var leaving chan error
	for {
		select {
		case e, ok := <-j.m.Events():
			if !ok {
				return j.end(leaving)
			}
			if err := j.show(e); err != nil {
				return err
			}
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(string(line)) == "exit" {
				lines, leaving = nil, j.leave(context.Background())
				continue
			}
			j.send(ctx, line)
		case <-ctx.Done():
			if leaving == nil {
				// Say goodbye, but do not wait long: the user asked to stop.
				lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = j.m.Leave(lctx)
			}
			j.m.Close()
			j.bye("interrupted; left")
			return cli.Exit("", 130)
		}
	}
}

// leave starts saying goodbye; the result comes on the channel.
func (j *joiner) leave(ctx context.Context) chan error {
	ch := make(chan error, 1)
	go func() { ch <- j.m.Leave(ctx) }()
	return ch
}

// end is reached when the member ended: it left, or the room was lost.
func (j *joiner) end(leaving chan error) error {
	var err error
	if leaving != nil {
		err = <-leaving
	} else {
		err = j.m.Err()
	}
	j.m.Close()
	if err != nil {
		j.bye("left")
		return errors.New(strings.TrimPrefix(err.Error(), "room: "))
	}
	j.bye("left the room")
	if j.notSent > 0 {
		return fmt.Errorf("%s not sent (see above)", plural(j.notSent, "line"))
	}
	return nil
}

func (j *joiner) bye(how string) {
	if j.json {
		_ = j.jw.write(struct {
			Type     string `json:"type"`
			Sent     uint64 `json:"sent"`
			Received uint64 `json:"received"`
			NotSent  uint64 `json:"not_sent"`
		}{"summary", j.sent, j.received, j.notSent})
		return
	}
	fmt.Fprintf(j.con.errw, "%s: sent %s, received %d\n", how, plural(j.sent, "line"), j.received)
}

func (j *joiner) send(ctx context.Context, line []byte) {
	if len(line) == 0 {
		return // nothing to say
	}
	err := j.m.Send(ctx, string(line))
	var tl *room.TooLongError
	switch {
	case err == nil:
		j.sent++
		return
	case errors.As(err, &tl):
		fmt.Fprintf(j.con.errw, "not sent: the line is %d bytes, over the room's limit of %d bytes\n", tl.Len, tl.Max)
	case errors.Is(err, room.ErrNotText):
		fmt.Fprintf(j.con.errw, "not sent: the line is not UTF-8 text\n")
	case errors.Is(err, context.Canceled):
		return // interrupted: run says so
	default:
		fmt.Fprintf(j.con.errw, "not sent: %v\n", strings.TrimPrefix(err.Error(), "room: "))
	}
	j.notSent++
}

// show prints one event.
func (j *joiner) show(e room.Event) error {
	if e.Kind == room.KindMessage {
		j.received++
	}
	if j.json {
		r := roomJSON{}
		switch e.Kind {
		case room.KindMessage:
			r.Type, r.From, r.Text, r.ID = "message", e.Nick, &e.Text, e.ID
		case room.KindJoin:
			r.Type, r.Nick = "join", e.Nick
		case room.KindLeave:
			r.Type, r.Nick, r.Reason = "leave", e.Nick, reasonJSON(e.Reason)
		case room.KindMembers:
			r.Type, r.Nicks = "members", e.Nicks
			if r.Nicks == nil {
				r.Nicks = []string{}
			}
			return j.jw.write(struct {
				Type  string   `json:"type"`
				Nicks []string `json:"nicks"`
			}{r.Type, r.Nicks})
		case room.KindMissed:
			r.Type, r.Nick, r.Count = "missed", e.Nick, e.Count
		}
		return j.jw.write(r)
	}
	var s string
	switch e.Kind {
	case room.KindMessage:
		s = "<" + e.Nick + "> " + showPayload([]byte(e.Text))
	case room.KindJoin:
		s = "* " + e.Nick + " joined"
	case room.KindLeave:
		s = "* " + e.Nick + " " + leaveWords(reasonJSON(e.Reason))
	case room.KindMembers:
		if len(e.Nicks) == 0 {
			s = "* nobody else is here yet"
		} else {
			s = "* in the room: " + strings.Join(e.Nicks, ", ")
		}
	case room.KindMissed:
		from := e.Nick
		if from == "" {
			from = "several members"
		}
		s = fmt.Sprintf("* missed %s from %s", plural(e.Count, "message"), from)
	}
	_, err := io.WriteString(j.con.out, s+"\n")
	return err
}

func reasonJSON(r uint8) string {
	if r == room.ReasonTimeout {
		return "timeout"
	}
	return "left"
}
