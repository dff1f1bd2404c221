package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// maxLines bounds what a process's output keeps.
const maxLines = 4096

// line is one line of a process's output and when it arrived.
type line struct {
	text string
	at   time.Time
}

// lineWriter splits what a process writes into lines, stamps each with its
// arrival time, and lets a caller wait for a line that matches.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	lines   []line
	dropped int
	notify  chan struct{} // a line arrived (capacity 1)
}

func newLineWriter() *lineWriter { return &lineWriter{notify: make(chan struct{}, 1)} }

// Write implements io.Writer.
func (w *lineWriter) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	w.partial = append(w.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.add(line{text: string(w.partial[:i]), at: now})
		w.partial = w.partial[i+1:]
		added = true
	}
	if len(w.partial) > 1<<16 { // a runaway line: keep it as a line
		w.add(line{text: string(w.partial), at: now})
		w.partial = nil
		added = true
	}
	w.mu.Unlock()
	if added {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (w *lineWriter) add(l line) {
	if len(w.lines) >= maxLines {
		w.dropped++
		return
	}
	w.lines = append(w.lines, l)
}

// snapshot returns the lines so far.
func (w *lineWriter) snapshot() []line {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]line(nil), w.lines...)
}

// tail returns the last lines as one string, for error messages.
func (w *lineWriter) tail(n int) string {
	ls := w.snapshot()
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(strings.TrimSpace(l.text))
	}
	return b.String()
}

// proc is a child process whose output is kept line by line.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *lineWriter
	stderr *lineWriter
	start  time.Time
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, once done is closed
}

// startProc starts a program; ctx's end kills it.
func startProc(ctx context.Context, name string, env []string, prog string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 2 * time.Second
	p := &proc{name: name, cmd: cmd, stdout: newLineWriter(), stderr: newLineWriter(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitLine waits for a line of w that matches re (what it is: "its
// address", ...) and returns its submatches and arrival time.
func (p *proc) waitLine(ctx context.Context, w *lineWriter, re *regexp.Regexp, what string) ([]string, time.Time, error) {
	seen := 0
	exited := false
	for {
		ls := w.snapshot()
		for ; seen < len(ls); seen++ {
			if m := re.FindStringSubmatch(ls[seen].text); m != nil {
				return m, ls[seen].at, nil
			}
		}
		if exited {
			return nil, time.Time{}, fmt.Errorf("%s exited (%v) without printing %s; it said: %s", p.name, p.err, what, p.said())
		}
		select {
		case <-w.notify:
		case <-p.done:
			exited = true // look once more: the line may have come with the exit
		case <-ctx.Done():
			return nil, time.Time{}, fmt.Errorf("%s %w before printing %s; it said: %s", p.name, context.Cause(ctx), what, p.said())
		}
	}
}

// wait waits for the process to exit, at most until ctx ends (then it is
// killed).
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit: %w", p.name, context.Cause(ctx))
	}
	if p.err != nil {
		return fmt.Errorf("%s: %v; it said: %s", p.name, p.err, p.said())
	}
	return nil
}

// waitInterrupted waits, as wait does, for a process that interrupt
// stopped: udpchat's exit status for an interrupted command is 130
// (128 + SIGINT), which is its success here.
func (p *proc) waitInterrupted(ctx context.Context) error {
	err := p.wait(ctx)
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && ee.ExitCode() == 130 {
		return nil
	}
	return err
}

// interrupt asks the process to stop, as Ctrl-C does.
func (p *proc) interrupt() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(os.Interrupt)
	}
}

// kill ends the process at once and waits for it.
func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// said is the end of the process's stderr, or stdout if stderr is empty.
func (p *proc) said() string {
	if s := p.stderr.tail(4); s != "" {
		return s
	}
	if s := p.stdout.tail(4); s != "" {
		return s
	}
	return "nothing"
}

// errTimeout marks a transfer that ran out of time.
var errTimeout = errors.New("timed out")
