package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// interruptError is the cause of a context that a signal ended.
type interruptError struct{ sig syscall.Signal }

func (e *interruptError) Error() string {
	if e.sig == syscall.SIGINT {
		return "interrupted"
	}
	return "stopped by " + signalName(e.sig)
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// exitCode is the status of a process ended by the signal, as shells
// report it: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
func (e *interruptError) exitCode() int { return 128 + int(e.sig) }

// signalContext returns a context that ends at SIGINT or SIGTERM, so that
// every command can stop cleanly and print its summary; context.Cause
// says which signal. After the first signal the default action is back:
// a second Ctrl-C ends the process at once, whatever it is doing.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			sig, _ := s.(syscall.Signal)
			cancel(&interruptError{sig: sig})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// interruption returns the signal that ended ctx, or nil.
func interruption(ctx context.Context) *interruptError {
	var ie *interruptError
	if errors.As(context.Cause(ctx), &ie) {
		return ie
	}
	return nil
}
