// Package netem impairs UDP traffic on purpose, reproducibly and without
// root: loss, burst loss, delay, jitter, reordering, duplication,
// corruption and rate limits, decided by a seeded PRNG so that the same
// seed and the same datagrams give the same decisions every time. A lossy
// test becomes a deterministic test.
//
// Linux's tc netem needs root, cannot be replayed run to run, and this
// kernel does not even have it; toxiproxy does not speak UDP. This package
// works in-process (Wrap, a net.PacketConn) and as a proxy between clients
// and a server (Proxy, behind `udpchat proxy`).
//
// # The model
//
// A Config describes one direction. For each datagram, in the order they
// enter, a Model draws (always the same draws, in the same order; see
// Model):
//
//   - loss: independent with probability Loss, or Gilbert-Elliott burst loss
//     (GE: the link is Good or Bad, each state with its own loss
//     probability, switching with probabilities P and R, as netem's "loss
//     gemodel"); Burst(loss, meanLen) picks P and R for an average loss and
//     mean burst length;
//   - duplication with probability Dup: the datagram is sent twice;
//   - corruption with probability Corrupt: one random bit is flipped (after
//     the kernel's checksum, so the receiver sees it);
//   - delay: Delay plus jitter, uniform in ±Jitter or normal with standard
//     deviation Jitter, never below zero; jitter reorders datagrams only
//     with JitterReorders;
//   - reordering with probability Reorder: the datagram is held back until
//     ReorderGap later datagrams have passed it or ReorderHold has elapsed,
//     whichever comes first, so a held datagram is always released and
//     reordering happens without any jitter;
//   - a Script of exact faults on numbered datagrams ("drop 5,17; dup 7;
//     swap 9"), on top of the random ones.
//
// Then the Link applies the timing: the delay, and a rate limit (Rate bits
// per second, each datagram taking size*8/Rate, at most Queue waiting;
// more are tail-dropped). Every datagram held at once counts against
// Limit and LimitBytes.
//
// Decisions that come from the PRNG depend only on the seed and the
// sequence of datagram sizes, not on timing. Rate-limiter queue drops
// depend on when datagrams arrive, as they would on a real link.
//
// # Counting and explaining
//
// Each direction has Counters: in, out, drops by cause (loss, burst,
// script, queue, limit), duplicated, reordered, corrupted, delayed. A
// Logger writes every decision as a JSON line (index, size, action, cause,
// delay), so that a run can be explained and two runs compared.
//
// # No goroutine per datagram
//
// Datagrams forwarded at once (no delay, no reordering, no rate) never
// leave the caller's goroutine. Held ones wait in one Scheduler, a heap
// released by a single goroutine and timer. Close stops it, discards what
// it still holds (as a link that goes down would), and leaves no goroutine
// behind.
//
// # Example
//
//	pc, _ := net.ListenUDP("udp", nil)
//	s, _ := netem.ParseScript("drop 2")
//	c, _ := netem.Wrap(pc, netem.Options{Write: netem.Config{Loss: 0.05, Delay: 10 * time.Millisecond, Script: s}, Seed: 1})
//	defer c.Close()
//	c.WriteTo(msg, dst) // 5% lost at random, the 2nd always, all 10ms late
package netem
