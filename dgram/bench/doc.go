// Package bench measures UDP throughput and latency between a client and
// a Server, on loopback or between two hosts, as iperf3 and sockperf do:
// it is what `udpchat bench` runs.
//
// Every datagram carries the 20-byte v1 sequence header of package seq.
// Throughput datagrams (seq.TypeData) are sent in batches (sendmmsg, and
// UDP GSO where the kernel has it: RunThroughput), and the Server counts
// and tracks each one, for loss, reordering, duplicates and RFC 3550
// jitter, even inside a coalesced GRO buffer; the kernel's drops for a
// full receive buffer are reported apart from loss on the way. Latency
// probes (TypeProbe) come back unchanged: RunLatency times full round
// trips from the send time in each probe's header (as sockperf
// --full-rtt) into a Histogram.
//
// The two sides speak in Control messages, JSON after a header of
// TypeControl: hello, retry, ready, refused, interval, stop, result. The
// Server answers a hello only with a retry token until the client shows,
// by echoing it, that it receives at its address, runs one test at a
// time for the client that validated, and refuses a test that asks more
// than its ServerConfig allows; nothing it sends a stranger is more than
// Amplification times the bytes it received from it.
package bench
