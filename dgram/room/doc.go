// Package room is group messaging over UDP: rooms of many members, each
// message delivered to every other member exactly once and in its
// sender's order, through loss, duplication and reordering, with bounded
// memory. A room has a server (a hub that relays), or none: a multicast
// room on one link, where members repair each other's losses.
//
// # Use
//
//	// A server: one socket, every member. Dst: on a wildcard address,
//	// each member is answered from the address it wrote to.
//	c, _ := dgram.Listen(ctx, ":9000")
//	bc, _ := dgram.NewConn(c, dgram.ConnConfig{Dst: true})
//	srv, _ := room.NewServer(bc, room.ServerConfig{})
//	defer bc.Close()
//	defer srv.Close()
//
//	// A member: a connected socket (it hears ICMP errors).
//	c, _ := dgram.DialAddrPort(server, netip.AddrPort{})
//	bc, _ := dgram.NewConn(c, dgram.ConnConfig{})
//	m, err := room.Join(ctx, bc, server, room.MemberConfig{Nick: "alice"})
//	m.Send(ctx, "hello")
//	for e := range m.Events() { ... } // the member list, messages, joins, leaves
//	m.Leave(ctx)                       // waits until the server has everything
//
//	// A multicast room: pin the interface.
//	lo, _ := room.LoopbackInterface()
//	s, _ := room.ListenGroup(netip.MustParseAddrPort("239.255.0.1:9000"), lo, 0)
//	g, err := room.JoinGroup(ctx, s, s.Group, room.GroupConfig{Nick: "alice"})
//
// Server, Member and Group are each a pure state machine (no I/O, no
// clock of its own) driven by two goroutines: one reads the socket (a
// dgram.BatchConn: a batch of datagrams per system call, and what one
// step sends leaves in one batch), one runs the timers on a Clock the
// caller may replace. None of them closes the socket it was given.
//
// # Rooms with a server
//
// Joining takes two round trips, and proves that the member receives at
// its address before the server sends it anything bigger than what it
// sent: HELLO (nick) is answered with a CHALLENGE whose cookie is an
// HMAC of the member's address, its session and the time, which the
// server keeps nowhere; JOIN (cookie, nick) is answered with WELCOME (the
// room's limits) or REFUSE (nick taken, bad nick, room full, bad cookie).
// To an address that has not joined, the server answers only HELLO, JOIN
// and stray packets (with RESET), each answer at most three times the
// size of what it answers and within guard's rates, and it relays
// nothing.
//
// Once joined, each direction of the member-server link is a reliable
// stream of numbered events (EVENT packets, numbered from 1): from the
// member, its messages and finally its goodbye; from the server, the
// member list, the others' messages, joins, leaves and timeouts. The
// receiver processes events in number order, once (duplicates are
// dropped by number, early events held within a window), and answers
// every EVENT with an ACK: the highest number processed in order and a
// 64-bit map of the numbers above the next one that it holds. The sender
// sends again what is not acknowledged after a retransmission timeout
// (RFC 6298, with backoff), and keeps at most Window events in flight.
// A message relayed to many members is one event in each member's
// stream, so every member gets every other member's messages once, in
// each sender's order (and, here, in the server's one order).
//
// A member that has nothing to send sends PING every Keepalive (2s); the
// server answers with an ACK. A member not heard from for Timeout (10s)
// is removed, and the others are told that it timed out. A member that
// hears nothing from the server for Timeout gives up.
//
// Bounds, each counted in ServerStats: members (MaxMembers), text
// (MaxText bytes of UTF-8), messages a second per member (Rate: the
// server holds back, unacknowledged, what comes faster, and members pace
// themselves to it), events in flight (Window) and queued per member
// (MaxQueue) and in all (MaxQueued). A message that does not fit a
// recipient's queue is dropped for that recipient, who is later told
// "missed N messages from X".
//
// # Multicast rooms
//
// Every packet goes to the group; packets carry the sender's session,
// which identifies a member (several members on one host share the
// group's port). A joining member sends three probe ANNOUNCEs over Probe
// (500ms): members answer with an ANNOUNCE of their own, and a member
// that has the same nick with CONFLICT, which refuses the join. A member
// then announces itself every Keepalive, with the number of its last
// message: so a receiver learns of lost messages even at the end of a
// burst.
//
// Messages (DATA) are numbered from 1 by their sender. A receiver
// delivers each sender's messages in order, once, and asks for what is
// missing with a NACK, multicast after a random pause of up to NackDelay
// so that one request serves every member that misses the same (a member
// that hears another's NACK for its gap waits). The sender repeats the
// messages from its History (the last 256) to the group, or answers
// UNAVAILABLE for what is no longer there; a receiver that cannot get a
// message (UNAVAILABLE, or no answer to NackTries requests) gives up on
// it and reports "missed N messages from X". This is negative
// acknowledgement in the manner of NORM (RFC 5740). A leaving member
// sends BYE with its last number, repairs what others miss, and waits
// (Linger) for each member's BYE-ACK, which a member sends once it has
// every message through that number.
//
// # Sealed rooms
//
// With a Key, every packet is sealed (package seal) before it is sent
// and must open before it is read: without the key one can neither join,
// nor read, nor speak, nor draw any answer from the server. Sealing adds
// seal.Overhead (44) bytes.
//
// # Wire format
//
// A room packet is a v1 header (package seq) with a type from 32 to 47,
// an 8-byte session, and the type's fields. All integers are
// big-endian. A nick is a length byte and 1 to 32 bytes of UTF-8
// (letters, digits, '-', '_', '.'); a text runs to the end of the
// packet and is UTF-8. A packet is at most MaxPacket (1180) bytes.
//
//	offset  size  field
//	0       2     magic "dg"
//	2       1     version 1
//	3       1     type
//	4       8     seq: per type, below (0 where unused)
//	12      8     sent: the sender's clock, Unix ns (informational)
//	20      8     session: a member's random ID; in a server's packet, the member's it answers
//	28      ...   fields
//
// Rooms with a server (M: member, S: server):
//
//	32 HELLO      M->S  seq 0          nick
//	33 CHALLENGE  S->M  seq 0          cookie (16 bytes)
//	34 JOIN       M->S  seq 0          cookie (16), nick
//	35 WELCOME    S->M  seq 0          max_text u16, rate u16 (messages/s), keepalive_ms u32, timeout_ms u32
//	36 REFUSE     S->M  seq 0          code u8 (1 nick taken, 2 bad nick, 3 room full, 4 bad cookie), reason text
//	37 EVENT      both  seq = event    kind u8, then by kind:
//	                                     1 message: id u64, nick, text (from a member: id and nick are ignored; send 0 and an empty nick)
//	                                     2 join:    nick
//	                                     3 leave:   reason u8 (1 left, 2 timeout), nick (from a member: its goodbye, reason 1, empty nick)
//	                                     4 members: more u8 (1: another MEMBERS follows), count u8, count nicks
//	                                     5 missed:  count u64, nick ("" for several members)
//	38 ACK        both  seq = cum      bits u64: bit i set when event cum+2+i was received
//	39 PING       M->S  seq 0          (nothing); answered with an ACK
//	40 RESET      S->M  seq 0          code u8 (1 not a member: join again, 2 the room closes)
//
// Multicast rooms (every packet to the group):
//
//	41 ANNOUNCE     seq = last message number   flags u8 (1 probe: joining), low u64 (oldest number in history), nick
//	42 DATA         seq = message number        nick, text
//	43 NACK         seq 0                       target session u64, n u8 (1 to 16), n x (start u64, end u64): [start, end)
//	44 BYE          seq = last message number   reason u8 (1), nick
//	45 BYE-ACK      seq = last number received  target session u64
//	46 CONFLICT     seq 0                       target session u64, nick (mine)
//	47 UNAVAILABLE  seq = oldest number kept    (nothing)
//
// A session with a server, as its packets go (event numbers in
// brackets):
//
//	M  HELLO alice                 S  CHALLENGE cookie
//	M  JOIN cookie alice           S  WELCOME 1000 50 2000 10000
//	                               S  EVENT [1] members: bob
//	M  ACK 1
//	M  EVENT [1] message "hi"      S  ACK 1           (and to bob: EVENT [n] message 1 alice "hi")
//	M  EVENT [2] leave             S  ACK 2           (and to bob: EVENT [n+1] leave 1 alice)
//
// Rooms rely on the UDP checksum for integrity; a sealed room adds
// authentication.
package room
