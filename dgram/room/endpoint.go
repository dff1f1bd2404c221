package room

import (
	"net"
	"sync"
)

// feeder is a machine that has events for the application.
type feeder interface {
	// take returns the events to deliver and whether the machine has
	// ended; called with the driver's lock held.
	take() (evs []Event, ended bool)
	// finish ends the machine with err unless it has ended; under the
	// lock.
	finish(err error)
	// failure is why the machine ended (nil: it left); under the lock.
	failure() error
}

// endpoint is what Member and Group share: a driver, and a goroutine
// that hands the machine's events to the application, in order, without
// ever blocking the machine.
type endpoint struct {
	d      *driver
	f      feeder
	events chan Event
	space  chan struct{} // a token after every delivery round: Send may find room
	wake   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

func newEndpoint(d *driver, f feeder, buffer int) *endpoint {
	e := &endpoint{d: d, f: f, events: make(chan Event, buffer), space: make(chan struct{}, 1),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	d.after = e.poke
	return e
}

func (e *endpoint) start() {
	e.d.start()
	e.wg.Add(1)
	go e.deliverer()
}

// poke wakes the deliverer.
func (e *endpoint) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// deliverer hands events to the application, in order, and closes
// Events when the machine has ended.
func (e *endpoint) deliverer() {
	defer e.wg.Done()
	defer close(e.events)
	for {
		e.d.mu.Lock()
		evs, ended := e.f.take()
		e.d.mu.Unlock()
		for _, ev := range evs {
			select {
			case e.events <- ev:
			case <-e.d.closing:
				return
			}
		}
		select {
		case e.space <- struct{}{}:
		default:
		}
		if len(evs) > 0 {
			e.d.poke() // the machine may take more now
			continue
		}
		if ended {
			e.once.Do(func() { close(e.done) })
			return
		}
		select {
		case <-e.wake:
		case <-e.d.closing:
			return
		}
	}
}

// Events delivers what happens in the room, in order: first the member
// list, then messages, joins, leaves and missed messages. It is closed
// when the member has ended (see Err) or was closed.
func (e *endpoint) Events() <-chan Event { return e.events }

// Done is closed when the member has ended: it left, or was refused,
// closed, or lost the room. Err says which.
func (e *endpoint) Done() <-chan struct{} { return e.done }

// Err is why the member ended: nil while it is in the room, and after a
// confirmed Leave.
func (e *endpoint) Err() error {
	e.d.mu.Lock()
	defer e.d.mu.Unlock()
	return e.f.failure()
}

// Close stops the member at once, without a goodbye (the others will
// see it time out), and waits for its goroutines. It leaves the Conn
// open. Err then reports net.ErrClosed, unless the member had ended.
func (e *endpoint) Close() error {
	e.d.mu.Lock()
	e.f.finish(net.ErrClosed)
	e.d.mu.Unlock()
	e.d.close()
	e.wg.Wait()
	e.once.Do(func() { close(e.done) })
	return nil
}
