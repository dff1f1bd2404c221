package arq

import "sync/atomic"

// budget is the memory that the connections of one Listener share for
// what they received and the application has not read yet: out-of-order
// segments, messages being reassembled, whole messages waiting for Recv.
// Each connection may hold a small reserve whatever the others hold, so
// that a few connections that fill the budget cannot starve an honest one;
// beyond its reserve a connection draws on the shared budget, and a
// segment that does not fit is dropped (the peer sends it again later)
// and counted.
type budget struct {
	max     int64
	used    atomic.Int64
	dropped atomic.Uint64 // segments dropped because the budget was spent
}

func newBudget(max int64) *budget { return &budget{max: max} }

// take reserves n bytes for a connection that holds held bytes already.
func (b *budget) take(n, held, reserve int) bool {
	if b == nil {
		return true
	}
	if held+n <= reserve {
		b.used.Add(int64(n))
		return true
	}
	if b.used.Add(int64(n)) > b.max {
		b.used.Add(-int64(n))
		b.dropped.Add(1)
		return false
	}
	return true
}

// give returns n bytes.
func (b *budget) give(n int) {
	if b != nil && n != 0 {
		b.used.Add(-int64(n))
	}
}

// Used returns the bytes held now.
func (b *budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}
