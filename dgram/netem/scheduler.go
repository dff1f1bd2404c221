package netem

import (
	"container/heap"
	"net/netip"
	"sync"
	"time"
)

// item is a datagram waiting in a Scheduler.
type item struct {
	at      time.Time
	seq     uint64 // ties at the same time leave in the order scheduled
	index   int    // in the heap; -1 once released
	buf     []byte
	pool    *[]byte // the pooled buffer buf comes from, if any
	dst     netip.AddrPort
	src     netip.AddrPort // the source to send from (Conn.WriteBatch's Local), or where it arrived (reads)
	ifIndex int
	link    *Link
	holding int  // held back: datagrams still to pass it
	held    bool // in its link's list of held datagrams (guarded by the scheduler's lock)
	orphan  bool // released while still listed as held: left to the GC, not pooled
}

// Small datagrams are copied into pooled buffers, so a busy link does not
// allocate per datagram.
const pooledSize = 2048

var bufPool = sync.Pool{New: func() any { b := make([]byte, pooledSize); return &b }}
var itemPool = sync.Pool{New: func() any { return new(item) }}

func getItem(n int) *item {
	it := itemPool.Get().(*item)
	if n <= pooledSize {
		it.pool = bufPool.Get().(*[]byte)
		it.buf = (*it.pool)[:n]
	} else {
		it.pool, it.buf = nil, make([]byte, n)
	}
	return it
}

func putItem(it *item) {
	if it.pool != nil {
		bufPool.Put(it.pool)
	}
	*it = item{}
	itemPool.Put(it)
}

type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *itemHeap) Push(x any) { it := x.(*item); it.index = len(*h); *h = append(*h, it) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.index = -1
	return it
}

// Scheduler releases held datagrams at their times, for any number of
// links, from one goroutine: never a goroutine or a timer per datagram.
// Its methods that take a time (release) let a test drive it with a
// virtual clock instead of Start.
type Scheduler struct {
	mu   sync.Mutex
	h    itemHeap
	seq  uint64
	wake chan struct{}
	due  []*item

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started bool
}

// NewScheduler returns an idle Scheduler; Start runs it.
func NewScheduler() *Scheduler {
	return &Scheduler{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// add schedules it at t. Called with s.mu held.
func (s *Scheduler) add(it *item, t time.Time) {
	s.seq++
	it.at, it.seq = t, s.seq
	heap.Push(&s.h, it)
}

// move reschedules a waiting item to t, after everything already
// scheduled for t. Called with s.mu held.
func (s *Scheduler) move(it *item, t time.Time) {
	s.seq++
	it.at, it.seq = t, s.seq
	heap.Fix(&s.h, it.index)
}

// kick wakes the scheduler goroutine to look at its next time again.
func (s *Scheduler) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Len returns how many datagrams are waiting.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.h)
}

// next returns the time of the earliest waiting datagram.
func (s *Scheduler) next() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.h) == 0 {
		return time.Time{}, false
	}
	return s.h[0].at, true
}

// release sends every datagram due at now to its link's output, in time
// order, and returns how many it sent.
func (s *Scheduler) release(now time.Time) int {
	s.mu.Lock()
	s.due = s.due[:0]
	for len(s.h) > 0 && !s.h[0].at.After(now) {
		it := heap.Pop(&s.h).(*item)
		// A link may still list it as held; it will see index -1 and
		// drop it, so it must not be recycled under it.
		it.orphan = it.held
		s.due = append(s.due, it)
	}
	due := s.due
	s.mu.Unlock()
	for _, it := range due {
		it.link.c.Out.Add(1)
		it.link.c.OutBytes.Add(uint64(len(it.buf)))
	}
	// hand each run of items of one output over at once
	for i := 0; i < len(due); {
		j := i + 1
		for j < len(due) && due[j].link.out == due[i].link.out {
			j++
		}
		due[i].link.out.send(due[i:j])
		i = j
	}
	for _, it := range due {
		it.link.released(it)
		if !it.orphan {
			putItem(it)
		}
	}
	n := len(due)
	clear(due)
	return n
}

// Start runs the scheduler's goroutine until Close.
func (s *Scheduler) Start() {
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	go s.run()
}

func (s *Scheduler) run() {
	defer close(s.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.release(time.Now())
		if at, ok := s.next(); ok {
			t.Reset(time.Until(at))
		} else {
			t.Stop()
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// Close stops the goroutine, waits for it, and discards the datagrams
// still waiting (they are lost, as on a link that goes down). It is
// idempotent and returns how many were discarded.
func (s *Scheduler) Close() int {
	n := 0
	s.once.Do(func() {
		close(s.stop)
		s.mu.Lock()
		started := s.started
		s.mu.Unlock()
		if started {
			<-s.done
		}
		n = s.discard()
	})
	return n
}

// discard drops every waiting item.
func (s *Scheduler) discard() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.h)
	for len(s.h) > 0 {
		it := heap.Pop(&s.h).(*item)
		it.link.released(it)
		if !it.held {
			putItem(it)
		}
	}
	return n
}
