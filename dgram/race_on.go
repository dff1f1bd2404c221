//go:build race

package dgram

// raceEnabled: the race detector is on. The kernel fills and reads batch
// buffers behind its back (recvmmsg and sendmmsg through a raw system
// call), so a batch read or write tells it, by copying, which bytes it
// wrote or read: a buffer the caller touches at the same time is then
// reported as the race it is.
const raceEnabled = true

// raceWrite tells the race detector b was written.
func raceWrite(b []byte) {
	if len(b) > 0 {
		copy(b, b)
	}
}

// raceRead tells the race detector b was read, copying it into scratch
// (a buffer of the caller's own).
func raceRead(b, scratch []byte) {
	for len(b) > 0 {
		n := copy(scratch, b)
		b = b[n:]
	}
}
