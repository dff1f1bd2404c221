// Package arq gives reliable, ordered, message-preserving delivery over
// UDP: it does in working code what TCP does in the kernel, so that the
// same impaired link that loses and reorders raw datagrams delivers every
// message, once, whole and in order, and the price can be counted.
//
// # Use
//
//	l, _ := arq.Listen(pc, arq.Config{})          // server: one socket, every peer
//	c, _ := l.Accept(ctx)
//	for { msg, err := c.Recv(); ... }             // io.EOF after the peer's last message
//
//	c, _ := arq.Dial(ctx, pc, server, arq.Config{}) // client
//	c.Send([]byte("hello")); c.Close()              // Close waits for the acknowledgements
//
// Conn.Reader and Conn.Writer adapt a connection to io.Reader and
// io.Writer for streams and files. Every connection answers from the
// socket it listens on (no port per transfer), so it crosses NATs and
// udpchat's proxy; on a socket bound to a wildcard address it answers
// each peer from the address that peer contacted. Package transfer, beside
// this one, is the file and message protocol udpchat speaks over it.
//
// # A state machine and a driver
//
// The protocol is Machine: packets in (Receive), time in (Tick, when
// Deadline says), the application's messages in (Write) and out (Recv),
// packets out (Next). It does no I/O, starts no goroutine and reads no
// clock, so a test drives it datagram by datagram, and package arqsim runs
// two of them over simulated links in virtual time (udpchat demo reliable
// shows one run: the same seed gives the same run). Conn is a thin driver:
// it locks, reads the clock, hands the packets its endpoint reads to the
// machine, writes what the machine sends through the socket's batch
// interface (dgram.BatchConn: recvmmsg/sendmmsg and UDP GSO/GRO, through
// sealing and impairment wrappers too), and runs one timer goroutine. Gate
// is a server's stateless half of the handshake, for drivers of one's own.
//
// # How it works
//
//   - Opening: the client sends SYN with a random 32-bit connection ID;
//     the server answers with a SYN-ACK that carries a cookie and keeps
//     nothing (no entry, no buffer, no timer); the client echoes the
//     cookie in COOKIE, which proves that it receives at its address, and
//     only then does the server create the connection and acknowledge it
//     (TCP's SYN cookies, QUIC's Retry). A flood of SYNs from spoofed
//     addresses costs one small answer each, and those answers are less
//     than 1.5 times what was sent in the victims' names. A stray
//     datagram from an old transfer never mixes into a new one (it is
//     counted and dropped). FIN (with the number of segments sent) /
//     FIN-ACK (everything arrived: it acknowledges every segment, in
//     case the ACKs that did were all lost) close; a side that closed
//     waits for the peer's FIN for as long as the peer keeps sending,
//     and answers its retransmissions with its FIN again; RESET aborts,
//     with a reason
//     (busy, full, no data moved, window kept closed, refused...).
//   - Messages are cut into segments of at most MSS bytes (1400 by
//     default; each side announces its own and sends at most the smaller),
//     numbered from 0; the last carries FlagEnd. The receiver reassembles
//     and delivers whole messages, in order. DATA larger than the MSS a
//     receiver announced is dropped and counted, never buffered.
//   - Selective repeat: each ACK carries the cumulative acknowledgement
//     (the next segment expected), the free receive window, up to 32
//     SACK ranges of segments held beyond gaps (the blocks that changed
//     most recently first, as RFC 2018 asks, so that every arrival is
//     reported even when there are more blocks than an ACK carries), up
//     to 4 D-SACK ranges of segments that arrived twice (RFC 2883), and
//     an echo of the latest send time of the DATA that arrived since
//     the receiver's previous ACK (as TCP's timestamps).
//   - Loss is found by RACK (RFC 8985): the sender keeps the segments in
//     flight in the order it sent them, and a segment is lost when one
//     sent after it was delivered and it has been out for that one's
//     RTT plus a reordering window. Until reordering is seen the window
//     is zero once three segments are SACKed beyond a hole (RFC 6675's
//     DupThresh, so loss is found at once); after, a quarter of the
//     minimum RTT, doubled for each round trip in which D-SACK shows a
//     retransmission was needless (RFC 8985 grows it by one quarter; a
//     loopback RTT is so short that the steps would take dozens of round
//     trips), at most the smoothed RTT or 2ms (segments overtaken by a
//     few others come later than a short RTT), back to a quarter after
//     16 recoveries without D-SACK. A segment sent twice counts, for RACK,
//     as sent at its first transmission unless the ACK's echo shows the
//     retransmission arrived: a late original cannot make the window
//     look lost.
//   - A tail loss probe two smoothed RTTs after the last send (RFC 8985)
//     sends new data, or the last segment again, so that a lost tail is
//     found by SACK rather than by the timer. The retransmission timer
//     (RFC 6298's SRTT, RTTVAR, RTO = SRTT + max(G, 4*RTTVAR), Karn's
//     rule) acts as QUIC's probe timeout (RFC 9002 6.2): it declares
//     nothing lost, sends two probes (new data, or the last and the
//     oldest segment), and lets their acknowledgement find the losses.
//     On a loaded host an ACK that is only late costs two segments, not
//     a window of needless retransmissions; a burst of losses, however
//     long, is found one round trip after the probes. Three timeouts in
//     a row (persistent loss, RFC 9002 7.6) collapse the window to two
//     segments. Its floor, MinRTO, is 2ms: Linux TCP's 200ms is sized
//     for Internet RTTs, and on loopback, where RTTs are tens of
//     microseconds, it would stall every lost tail for a thousand round
//     trips (QUIC uses 1ms). Backoff: the first six timeouts in a row
//     keep the timer (Linux's thin-stream linear timeouts), then it
//     doubles, up to 16 times the RTO the RTT gives, MaxRTO, a quarter
//     of IdleTimeout, and the larger of IdleTimeout/64 and the RTO the
//     RTT gives: loss in bursts is counted in packets, and only packets
//     sent get a transfer out of a burst, so the idle timeout holds
//     dozens of timeouts whatever the RTT, while a dead path still gets
//     only two packets per backed-off timeout.
//   - Needless retransmissions are counted (Stats.Spurious): the sender
//     remembers its last 4096 retransmitted segments, and a D-SACK of
//     one shows that its original had arrived (RFC 3708). When every
//     retransmission since a reduction of the window proves needless,
//     the reduction is undone (Stats.Undos).
//   - Giving up is a matter of time, not of a retry count: a connection
//     fails when it heard nothing from its peer for IdleTimeout (15s)
//     (ErrIdle; ErrPeerUnreachable during the handshake), when the peer
//     acknowledged none of its data for IdleTimeout (ErrPeerUnreachable),
//     or kept its window closed on data waiting for IdleTimeout
//     (ErrZeroWindow; window probes meanwhile). So an outage shorter than
//     IdleTimeout is survived, and the retry after it comes soon. On a
//     connected socket an ICMP port unreachable ends it at once with a
//     *dgram.Error of kind dgram.ErrRefused. A server may also end a
//     connection on which no data moved for a while (SetStallTimeout), so
//     that keepalives alone cannot hold it.
//   - Flow control: the receiver advertises its free buffer, in segments,
//     bounded both by RecvWindow segments and by RecvBuffer bytes, and the
//     sender never has more than that outstanding beyond the cumulative
//     acknowledgement.
//   - Congestion control is a model of the path, after BBR (Cardwell
//     et al., ACM Queue 2016): every ACK gives a delivery rate sample
//     (segments delivered over the longer of the send and the ACK
//     intervals, draft-cheng-iccrg-delivery-rate-estimation, at least a
//     millisecond long: on loopback 32 segments sent as one GSO buffer
//     and read as one GRO buffer arrive in an instant); the bottleneck
//     rate is the highest sample of the last 10 round trips, and the
//     path's RTT the lowest of the last 10 seconds. Their product (the
//     RTT taken as at least 1ms, the step of a sender's timers) is what
//     the path holds without a queue. The sender paces at the rate
//     (Startup: 2.89 times it, and at least twice what the window allows
//     per RTT, so that the window doubles each round trip as in slow
//     start, until the rate stops growing for three round trips or loss
//     with a queue shows; Drain; then cycles of 1.25, 0.75 and six of 1;
//     ProbeRTT for 200ms when the minimum RTT is 10 seconds old),
//     and keeps in flight at most twice the path's content plus what
//     ACKs that come in bursts need. Loss is repaired but not read as
//     congestion, unless the model says so: a round trip that lost more
//     than 2% while even its shortest RTT was well above the path's (a
//     standing queue: an eighth of the RTT, 4 to 16ms, as HyStart++) is
//     congestion; so is a round trip that lost more than 15%, and twice
//     what the path usually loses, on a path that does not reorder (a
//     buffer too shallow to show a queue in the RTT overflows all the
//     same, and such loss grows with the rate, where random loss does
//     not). Then the amount in flight where the loss began, times 0.85,
//     bounds the window (BBRv2's inflight_hi), a bound that loss-free
//     round trips raise again, by 1, 2, 4... segments, and the rate is
//     held to what that round trip delivered (at least a quarter of the
//     measured rate; BBRv2's bw_lo), raised by a quarter each round
//     trip that loses nothing. So
//     random loss on a path that is not full costs only its
//     retransmissions (1% loss at a 10ms RTT keeps most of the link,
//     where a loss-based controller sits near the Mathis bound,
//     MSS/RTT x 1.22/sqrt(p)), while a real bottleneck sees a steady
//     rate near its own and a queue that does not overflow.
//   - Pacing: a token bucket at the pacing rate that holds two
//     milliseconds of segments (Go's timers fire in steps of about a
//     millisecond, and a sender woken late sends what it owes), at
//     least 10 and at most 64: at loopback rates two milliseconds are a
//     thousand segments, a burst that overflows the buffers on the way;
//     fast paths are clocked by their ACKs anyway.
//   - Integrity: every packet ends with a CRC-32C; one that fails it is
//     counted and dropped, never delivered (our netem corrupts after the
//     kernel's UDP checksum, as a bad NIC or middlebox can).
//   - Liveness: a side that has sent nothing for KeepAlive pings.
//
// # Memory
//
// Everything is bounded and counted. The send ring starts at 64 segments
// and doubles as it fills, up to SendBuffer. The receive ring starts at 64
// segments and doubles only each time the peer has delivered half of it
// in order, up to RecvWindow: a peer that sends only out-of-order
// segments, or nothing, never costs more. What a connection holds
// received and not yet read (out-of-order segments, the message being
// reassembled, whole messages waiting for Recv, the ring itself, and up
// to 1 MiB of messages the application gave back with Release for reuse)
// stays under RecvBuffer bytes; the connections of a Listener share MaxBuffered
// bytes, each with a reserve of 16 segments that the others cannot take.
// A segment that does not fit is dropped (the peer sends it again) and
// counted. A Listener holds at most MaxConns connections and AcceptQueue
// waiting for Accept; a client beyond them is refused (RESET, "full").
// A sender keeps a history of 4096 retransmitted segments (64 KiB, made
// at its first retransmission) for D-SACK, and a cache of 256 segment
// buffers.
//
// Stats counts everything (retransmissions and those shown needless,
// timeouts, probes, undos, congestion rounds, duplicates, oversized and
// memory drops, head-of-line blocking waits) and shows the model (rate,
// minimum RTT, mode, window, reordering window), ListenerStats
// what the listener answered or dropped, and Config.Trace reports every
// state change, for teaching.
//
// # Wire format
//
// Every packet starts with the 20-byte v1 header of package seq (magic
// "dg", version 1, type, seq, sent), then a 4-byte connection ID, then
// the type's fields, and ends with a CRC-32C (Castagnoli) of everything
// before it. All integers are big-endian.
//
//	type 16 SYN      seq 0           | conn | window u32 | mss u16 | crc
//	type 17 SYN-ACK  seq 0           | conn | window u32 | mss u16 | cookie [16] | crc
//	type 24 COOKIE   seq 0           | conn | window u32 | mss u16 | cookie [16] | crc
//	type 18 DATA     seq = segment   | conn | flags u8 (1 end of message, 2 retransmission) | payload | crc
//	type 19 ACK      seq = next expected | conn | window u32 | echo u64 | n u8 | n x (start u64, end u64) |
//	                                          d u8 | d x (start u64, end u64) | crc
//	type 20 FIN      seq = segments sent | conn | flags u8 (1: also acknowledges the peer's FIN) | crc
//	type 21 FIN-ACK                  | conn | crc
//	type 22 RESET                    | conn | reason u8 | crc
//	type 23 PING                     | conn | crc
//
// The cookie is a 4-byte timestamp (Unix seconds) and the first 12 bytes
// of HMAC-SHA256(secret, timestamp | client IP as 16 bytes | client port |
// connection ID); a server takes it back for max(IdleTimeout, 30s). SACK
// ranges (n, at most 32) are half-open [start, end), each above the
// cumulative acknowledgement; the first holds the segment that arrived
// last, the next the other blocks that changed most recently (RFC 2018),
// then the lowest. D-SACK ranges (d, at most 4) name segments that
// arrived again, below the cumulative acknowledgement or among those
// held (RFC 2883). echo is the highest sent field of the DATA received
// since the receiver's previous ACK (0: none). sent is the sender's
// clock (Unix ns); for DATA, the time of that transmission.
package arq
