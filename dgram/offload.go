package dgram

// UDP segmentation offload (GSO) and receive coalescing (GRO), Linux 4.18
// and 5.0 and later.
//
// With GSO a sender hands the kernel one buffer of up to MaxSegments
// equal-sized datagrams and one destination (Message.Segment on a Batch
// write): one system call and one trip down the stack for all of them.
// They still leave as separate datagrams: a peer on a real network, or a
// socket without GRO on loopback, receives each on its own.
//
// With GRO (EnableGRO) the kernel may hand a receiver several datagrams of
// one flow in one buffer, and says so with their segment size
// (Message.Segment after a Batch read). Every datagram's boundary is kept:
// all are Segment bytes long but the last. On loopback, coalesced buffers
// come only from GSO senders.

// MaxSegments is the most datagrams one GSO write may carry (the kernel's
// UDP_MAX_SEGMENTS on older kernels).
const MaxSegments = 64

// MaxGSOBytes is the most bytes one GSO write may carry.
const MaxGSOBytes = 65000
