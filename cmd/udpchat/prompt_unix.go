//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// watchResize keeps the line editor's idea of the window size current
// (SIGWINCH) until stop is closed; the function it returns stops it.
func watchResize(t *term.Terminal, fd int, stop <-chan struct{}) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	go func() {
		for {
			select {
			case <-ch:
				setTermSize(t, fd)
			case <-stop:
				return
			}
		}
	}()
	return func() { signal.Stop(ch) }
}
