//go:build !unix

package main

import "golang.org/x/term"

// watchResize: no SIGWINCH here; the size is read once, at the start.
func watchResize(t *term.Terminal, fd int, stop <-chan struct{}) func() { return func() {} }
