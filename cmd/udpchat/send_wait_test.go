package main

import (
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

func TestReplyTableContent(t *testing.T) {
	tb := newReplyTable(false)
	now := time.Now()
	first := tb.add([]byte("first"), now)
	first.state = recExpired
	second := tb.add([]byte("second"), now)
	if r := tb.match([]byte("first"), second); r != first {
		t.Errorf("match(first) while waiting for second = %v, want datagram 1 (late)", r)
	}
	if r := tb.match([]byte("second"), second); r != second {
		t.Errorf("match(second) = %v, want datagram 2", r)
	}
	if r := tb.match([]byte("other bytes"), second); r != nil {
		t.Errorf("match(other) = %v, want none (the caller takes it for the reply in order)", r)
	}
	second.state = recAnswered
	if r := tb.match([]byte("second"), nil); r != second {
		t.Errorf("match(second) again = %v, want datagram 2 (a duplicate)", r)
	}
	// Identical contents: the one waited for first, then the oldest expired.
	third := tb.add([]byte("first"), now)
	if r := tb.match([]byte("first"), third); r != third {
		t.Errorf("match(first) while waiting for an identical third = %v, want datagram 3", r)
	}
	if r := tb.match([]byte("first"), nil); r != first {
		t.Errorf("match(first) between waits = %v, want datagram 1", r)
	}
}

func TestReplyTableSeq(t *testing.T) {
	tb := newReplyTable(true)
	now := time.Now()
	var recs []*sentRec
	for i := range 3 {
		b := seq.Header{Type: seq.TypeData, Seq: uint64(i)}.Append(nil)
		recs = append(recs, tb.add(append(b, "hi"...), now))
	}
	reply := append(seq.Header{Type: seq.TypeData, Seq: 1}.Append(nil), "hi"...)
	if r := tb.match(reply, recs[2]); r != recs[1] {
		t.Errorf("match(seq 1) = %v, want datagram 2", r)
	}
	if r := tb.match(append(seq.Header{Type: seq.TypeData, Seq: 7}.Append(nil), "hi"...), recs[2]); r != nil {
		t.Errorf("match(seq 7) = %v, want none", r)
	}
}

// TestReplyTableBounded: only the last replyWindow datagrams are kept.
func TestReplyTableBounded(t *testing.T) {
	tb := newReplyTable(false)
	now := time.Now()
	old := tb.add([]byte("old"), now)
	old.state = recExpired
	for range replyWindow {
		tb.add([]byte("new"), now).state = recAnswered
	}
	if r := tb.match([]byte("old"), nil); r != nil {
		t.Errorf("match(old) = %v after %d newer datagrams, want none", r, replyWindow)
	}
	if len(tb.recs) != replyWindow || tb.get(1) != nil || tb.get(tb.n) == nil {
		t.Errorf("table of %d records, get(1) = %v", len(tb.recs), tb.get(1))
	}
}
