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
// udpchat's proxy.
//
// # How it works
//
//   - Open and close handshakes: SYN / SYN-ACK with a random 32-bit
//     connection ID chosen by the client, so that a restarted peer or a
//     stray datagram from an old transfer never mixes into a new one (it is
//     counted and dropped); FIN (with the number of segments sent) /
//     FIN-ACK (everything arrived); RESET aborts.
//   - Messages are cut into segments of at most MSS bytes (1400 by
//     default), numbered from 0; the last carries FlagEnd. The receiver
//     reassembles and delivers whole messages, in order.
//   - Selective repeat: each ACK carries the cumulative acknowledgement
//     (the next segment expected), the free receive window, and up to 32
//     SACK ranges of segments held beyond gaps. A segment is retransmitted
//     when three segments above it were SACKed (RFC 6675's DupThresh),
//     after three duplicate ACKs with new SACK information (fast
//     retransmit), when RACK (RFC 8985) sees that a segment sent after it
//     was delivered a reordering window (a quarter RTT, at least 1ms)
//     later, or when the retransmission timer expires. A tail loss probe
//     at two smoothed RTTs re-sends the last segment so that a lost tail is
//     found by SACK rather than by the timer.
//   - The timer follows RFC 6298: SRTT, RTTVAR, RTO = SRTT + max(G,
//     4*RTTVAR), Karn's rule (no sample from a retransmitted segment, nor
//     from an ACK that waited for one), exponential backoff. Its floor,
//     MinRTO, is 2ms: Linux TCP's 200ms is sized for Internet RTTs, and on
//     loopback, where RTTs are tens of microseconds, it would stall every
//     lost tail for a thousand round trips (QUIC uses 1ms).
//   - Flow control: the receiver advertises its free buffer (RecvWindow
//     segments, default 8192) and the sender never has more than that
//     outstanding beyond the cumulative acknowledgement.
//   - Congestion control, NewReno-style AIMD: slow start from 10 segments,
//     then one more segment per round trip; a loss found by ACKs multiplies
//     the window by 0.7 once per loss event (CUBIC's factor rather than
//     NewReno's 0.5, kinder to the random loss of a lossy link); a timeout
//     collapses it to one segment.
//   - Integrity: every packet ends with a CRC-32C; one that fails it is
//     counted and dropped, never delivered (our netem corrupts after the
//     kernel's UDP checksum, as a bad NIC or middlebox can).
//   - Liveness: a side that has sent nothing for KeepAlive pings; a side
//     that heard nothing for IdleTimeout (15s) fails with ErrIdle; MaxRetries
//     timeouts in a row without progress fail with ErrPeerUnreachable.
//
// Stats counts everything (retransmissions by cause, timeouts, duplicates,
// head-of-line blocking waits), and Config.Trace reports every state
// change, for teaching.
//
// # Wire format
//
// Every packet starts with the 20-byte v1 header of package seq (magic
// "dg", version 1, type, seq, sent), then a 4-byte connection ID, then
// the type's fields, and ends with a CRC-32C (Castagnoli) of everything
// before it. All integers are big-endian.
//
//	type 16 SYN      seq 0           | conn | window u32 | mss u16 | crc
//	type 17 SYN-ACK  seq 0           | conn | window u32 | mss u16 | crc
//	type 18 DATA     seq = segment   | conn | flags u8 (1 end of message, 2 retransmission) | payload | crc
//	type 19 ACK      seq = next expected | conn | window u32 | n u8 | n x (start u64, end u64) | crc
//	type 20 FIN      seq = segments sent | conn | flags u8 (1: also acknowledges the peer's FIN) | crc
//	type 21 FIN-ACK                  | conn | crc
//	type 22 RESET                    | conn | reason u8 | crc
//	type 23 PING                     | conn | crc
//
// SACK ranges are half-open [start, end), each above the cumulative
// acknowledgement; the first holds the segment that arrived last (RFC
// 2018). sent is the sender's clock (Unix ns), informational.
package arq
