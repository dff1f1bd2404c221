//go:build !unix

package netem

import "syscall"

// peekWait is false: here a client's goroutine waits in its read, with a
// buffer.
const peekWait = false

func waitReadable(rc syscall.RawConn) (refused bool, err error) { return false, nil }
