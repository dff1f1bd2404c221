// Package seq numbers datagrams and shows, datagram by datagram, what the
// network did to them: which were lost, which came late (reordered), which
// came twice. It is the visible difference between UDP and a reliable
// stream.
//
// # Wire format: header v1
//
// Every numbered datagram starts with a 20-byte header; the payload
// follows. All integers are big-endian.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  'd' (0x64)   |  'g' (0x67)   |  version = 1  |     type      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                     seq (64 bits)                             +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+               sent: Unix time in nanoseconds (64 bits)        +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       payload ...
//
// type 0 is a data datagram; other values are reserved for dgram/arq and
// authentication. seq counts from 0 for each sender and never wraps (64
// bits). sent is the sender's clock when it sent the datagram, used for
// jitter and to recognise a restarted sender; a peer that has no clock may
// send 0. A datagram shorter than 20 bytes, or with another magic or
// version, is malformed; so, for a Tracker, is a valid header of a type
// other than 0.
//
// In Python, a compatible sender is one line:
//
//	struct.pack(">2sBBQQ", b"dg", 1, 0, seq, time.time_ns()) + payload
//
// # Receive statistics
//
// A Tracker keeps, per sender address, the counters of RFC 3550 (section
// 6.4, appendix A.3 and A.8) and RFC 4737:
//
//   - received: datagrams with a valid header; unique: distinct seqs;
//     duplicates = received - unique.
//   - expected = highest + 1 (seq starts at 0; see Probation for a sender
//     first heard far from 0); lost = expected - unique, never negative.
//     A receiver alone cannot see losses after the last datagram that
//     arrived: trailing losses are not counted.
//   - an arrival is late (reordered) when its seq is below the highest
//     seen and it is not a duplicate; its reordering extent (RFC 4737) is
//     the number of arrivals since the first arrival with a larger seq, so
//     in the order 1 2 4 5 3, datagram 3 is late by 2.
//   - an arrival above highest+1 opens a gap: the event lists the missing
//     seqs (a range).
//   - jitter is the RFC 3550 interarrival jitter: with transit = arrival -
//     sent, D the change in transit between consecutive arrivals, J +=
//     (|D| - J)/16. Sender and receiver clocks need not agree: only
//     differences of transit count. A send time more than
//     Config.MaxClockSkew (default 10 minutes) from the receiver's clock
//     is one no honest clock gives: it is left out of the jitter and
//     counted (Stats.Skewed, "skewed" in JSON).
//
// # Probation
//
// Anyone can forge a datagram from a sender's address. So that a single
// one cannot spoil that sender's counts (a seq of 2^64-1 would otherwise
// make every later datagram look old), the Tracker follows RFC 3550
// appendix A.1: a datagram far from the sender's sequence is Suspect and
// counted nowhere but in Stats.Suspect, until the sender's next datagram
// follows it (its seq plus one). Then both count, and the next
// datagram's event says what happened. Far means: more than
// Config.MaxDropout (default 3000, RFC 3550's MAX_DROPOUT) above the
// highest seq, or above 0 for a sender's first datagram (a receiver that
// starts listening to a sender already at seq 10,000 then counts from
// there); a restart (below); or seq 2^64-1, which nothing can follow, so
// a sequence never reaches it and never wraps.
//
// # Bounded memory
//
// Duplicates are found with a sliding bitmap of Config.Window seqs below
// the highest (default 2048, 256 bytes per sender). An arrival older than
// that is reported as stale: it cannot be told from a duplicate, and is
// counted as unique. The table of senders holds at most Config.MaxSenders
// (default 4096) senders that sent valid headers; when it is full, the
// least recently seen is evicted and counted. Senders that sent only
// malformed datagrams wait in a smaller table of their own, so that a
// flood of garbage from many addresses cannot push real senders out.
//
// # Restarts
//
// A sender that restarts begins again at seq 0, which would otherwise read
// as a run of duplicates or stale arrivals. A datagram starts a new session
// when its seq is not above the highest seen, it comes after at least
// Config.RestartIdle (default 1s) of silence from that sender, it was
// not sent before the datagram that set the highest (when both carry a
// send time; a straggler from the old session was), and the sender's
// next datagram follows it (Probation: until then it is Suspect, and the
// next datagram's event is Restart). Without the pause it
// is reordering or duplication, whatever its send time: a peer that
// reorders on purpose stamps each datagram when it sends it. A sender that
// restarts with no pause on the same port is therefore not recognised; a
// restarted process normally gets a new port, and so counts as a new
// sender anyway. The sender's counters carry on across sessions (expected
// adds up each session's highest+1), and Stats.Restarts counts the
// sessions after the first.
package seq
