package main

import (
	"hash/maphash"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

// send --wait matches each reply to the datagram it answers, so that a
// reply that comes late is not taken for the reply to the next datagram:
// by sequence number with --seq (an echo server returns the header), by
// content otherwise (an echo returns the bytes), and, when neither tells
// (a server that answers with other bytes), to the datagram being waited
// for, as its reply in order.

// replyWindow bounds the datagrams remembered for matching: a reply to an
// older one is reported as matching none.
const replyWindow = 4096

// recState is where a datagram sent with --wait stands.
type recState uint8

const (
	recWaiting  recState = iota // sent, within its timeout
	recExpired                  // its timeout passed with no reply
	recAnswered                 // answered within its timeout
	recLate                     // answered after its timeout
)

// sentRec is one datagram sent with --wait.
type sentRec struct {
	n     uint64 // its number, from 1
	hash  uint64 // of the datagram's bytes as sent (before sealing)
	size  int
	at    time.Time
	state recState
}

// replyTable remembers the last replyWindow datagrams sent.
type replyTable struct {
	recs  []sentRec
	seed  maphash.Seed
	n     uint64 // datagrams recorded
	isSeq bool   // datagrams carry the sequence header: match by seq
}

func newReplyTable(isSeq bool) *replyTable {
	return &replyTable{recs: make([]sentRec, replyWindow), seed: maphash.MakeSeed(), isSeq: isSeq}
}

// add records datagram b, sent at, and returns its record.
func (t *replyTable) add(b []byte, at time.Time) *sentRec {
	t.n++
	r := &t.recs[(t.n-1)%replyWindow]
	*r = sentRec{n: t.n, hash: maphash.Bytes(t.seed, b), size: len(b), at: at, state: recWaiting}
	return r
}

// get returns datagram n's record, if it is still remembered.
func (t *replyTable) get(n uint64) *sentRec {
	if n == 0 || n > t.n || t.n-n >= replyWindow {
		return nil
	}
	return &t.recs[(n-1)%replyWindow]
}

// match finds the datagram that reply b answers; cur is the one being
// waited for (nil between waits). It returns nil when nothing matches.
func (t *replyTable) match(b []byte, cur *sentRec) *sentRec {
	if t.isSeq {
		if h, _, err := seq.Decode(b); err == nil {
			return t.get(h.Seq + 1)
		}
	}
	h, size := maphash.Bytes(t.seed, b), len(b)
	same := func(r *sentRec) bool { return r.hash == h && r.size == size }
	if cur != nil && cur.state == recWaiting && same(cur) {
		return cur
	}
	first := uint64(1)
	if t.n > replyWindow {
		first = t.n - replyWindow + 1
	}
	// The oldest datagram still without a reply: a late one.
	for n := first; n <= t.n; n++ {
		if r := t.get(n); r.state == recExpired && same(r) {
			return r
		}
	}
	// Else one already answered: this is a duplicate.
	for n := t.n; n >= first; n-- {
		if r := t.get(n); (r.state == recAnswered || r.state == recLate) && same(r) {
			return r
		}
	}
	return nil
}
