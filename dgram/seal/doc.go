// Package seal authenticates and encrypts datagrams: AES-256-GCM under a
// per-session key derived with HKDF-SHA256 from a shared secret, with an
// anti-replay window per sender session.
//
// # Wire format
//
// A sealed datagram is a v1 sequence header of type 2 (Type), a session ID,
// the ciphertext and the GCM tag. All integers are big-endian.
//
//	offset  size  field
//	0       2     magic "dg"
//	2       1     version 1
//	3       1     type 2 (sealed)
//	4       8     seq: the session's datagram counter, from 0, one per sealed datagram; never 2^64-1
//	12      8     sent: the sender's clock, Unix nanoseconds
//	20      8     session: random, chosen by the sender when it starts
//	28      n     ciphertext: the datagram as it would be sent without a key
//	28+n    16    GCM tag
//
// The first 28 bytes stay readable and are authenticated as associated
// data; everything the application sent (text, a v1 datagram, an arq
// packet) is the encrypted inner datagram. The seal's seq is its own
// counter, not the inner protocol's: arq retransmits a segment under the
// same segment number, and a nonce must never repeat.
//
// Keys: the key file holds a 32-byte secret (64 hex digits; `udpchat
// keygen` writes one). prk = HKDF-Extract(SHA-256, salt "udpchat seal v1",
// secret); each session's AES-256 key is HKDF-Expand(SHA-256, prk,
// "udpchat seal v1 session " + the 8 session bytes, 32). The GCM nonce is
// four zero bytes and the seq. A (key, nonce) pair therefore repeats only if
// two sessions draw the same random 64-bit ID, also across restarts and
// across senders that share the secret.
//
// # Receiving
//
// An Opener checks, in this order, and rejects with a Cause:
//
//   - unsealed: too short, not a v1 header, not of type 2, or seq 2^64-1
//     (a Sealer stops before it: ErrExhausted);
//   - unknown session: its session is not one the Opener knows, and its
//     send time is before the Opener started (or before the newest
//     session the bounded table had to forget): a datagram from before a
//     restart, which the receiver could no longer check for replay even
//     if it were authentic, so it is not checked at all;
//   - throttled: its session is not one the Opener knows, and its source
//     address, or all sources together, already started
//     Config.NewSessionRate (50) or Config.NewSessionTotal (2,000) new
//     sessions in the last second: it is not checked;
//   - bad tag: authentication failed: the wrong key, a changed header or
//     payload, a truncated datagram;
//   - replay: the session is known and the seq was already accepted (or
//     the datagram carries one of this endpoint's own sessions: a
//     reflection of what it sent);
//   - stale: the session is known and the seq is older than the
//     Window-datagram anti-replay window (RFC 4303 section 3.4.3, RFC 6479).
//
// Authentication comes before the window check, so that "replay" always
// means an authentic datagram seen before; the window moves only after a
// datagram authenticated, so forged datagrams cannot advance it. Sessions
// live in a bounded table (least recently used out); only authentic
// datagrams create one.
//
// # Cheap rejection
//
// A datagram of a session the receiver knows costs one AES-GCM open. One
// of a session it does not know costs a key derivation first (HMAC-SHA256,
// AES key expansion, GCM setup), about ten times that; a flood of junk with
// random session IDs would make every datagram pay it. So the derivations
// are rate-limited, per source address and in all, with the token buckets
// of dgram/guard, and the cheap checks (the header, the send time) come
// first. While a flood lasts, a new honest session may have to wait for a
// token; sessions already known are never limited. The seq never reaches
// 2^64-1, so the anti-replay window, whose top is the highest seq plus
// one, never wraps.
//
// The "unknown session" rule compares the sender's clock to the
// receiver's: two hosts whose clocks differ by d lose at most the first d
// of datagrams after the receiver starts. A receiver that must accept
// datagrams older than its own start can set Config.Start.
package seal
