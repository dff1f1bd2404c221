package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/term"
)

// console is where an interactive command (chat, room join) reads the
// lines the user types and prints what arrives.
//
// On a terminal (stdin and stdout both one), it runs a line editor
// (golang.org/x/term's Terminal) in raw mode: the line being typed stays
// at the bottom, behind a prompt, and everything printed appears above
// it, so that an incoming line never lands in the middle of a half-typed
// one. Keys: backspace, Ctrl-U (erase to the start), left/right,
// Home/End, up/down (history), Enter; Ctrl-D on an empty line ends the
// input. Raw mode turns off the signal Ctrl-C would send, so the console
// reads Ctrl-C itself and cancels the context it gives the command
// (console.context), which then ends as it does on SIGINT.
//
// Otherwise (pipes, files), lines are read as they come and output is
// written as it is.
type console struct {
	lines chan []byte // each line typed, without its ending; closed at EOF
	out   io.Writer   // program output (stdout's role)
	errw  io.Writer   // status lines (stderr's role)

	term    *term.Terminal
	fd      int
	state   *term.State
	stop    chan struct{}
	intr    chan struct{} // closed at the first Ctrl-C
	intrMu  sync.Once
	winch   func() // stops the window-size watcher
	closeMu sync.Once
	raw     *rawIO
	typing  atomic.Bool // keys came since the last line was read: a line may be half typed
}

// openConsole sets up the console. prompt is shown on a terminal only.
func openConsole(stdin io.Reader, stdout, stderr io.Writer, prompt string) *console {
	c := &console{lines: make(chan []byte), out: &lockedWriter{w: stdout}, errw: &lockedWriter{w: stderr},
		stop: make(chan struct{}), intr: make(chan struct{})}
	in, inOK := stdin.(*os.File)
	out, outOK := stdout.(*os.File)
	if inOK && outOK && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd())) {
		if st, err := term.MakeRaw(int(in.Fd())); err == nil {
			c.fd, c.state = int(in.Fd()), st
			c.raw = &rawIO{r: in, w: out, ctrlC: c.interrupt, typed: func() { c.typing.Store(true) }}
			c.term = term.NewTerminal(c.raw, prompt)
			setTermSize(c.term, int(out.Fd()))
			c.out = c.term
			if isSameTerminal(stderr, out) {
				c.errw = c.term
			}
			c.winch = watchResize(c.term, int(out.Fd()), c.stop)
			go c.readTerm()
			return c
		}
	}
	go readLines(stdin, c.lines, c.stop)
	return c
}

// readTerm reads lines from the line editor until EOF (Ctrl-D on an
// empty line) or an error.
func (c *console) readTerm() {
	defer close(c.lines)
	for {
		line, err := c.term.ReadLine()
		c.typing.Store(false)
		if err != nil && err != term.ErrPasteIndicator {
			return
		}
		select {
		case c.lines <- []byte(line):
		case <-c.stop:
			return
		}
	}
}

// interrupt records a Ctrl-C typed in raw mode.
func (c *console) interrupt() { c.intrMu.Do(func() { close(c.intr) }) }

// interrupted reports whether Ctrl-C was typed at the prompt.
func (c *console) interrupted() bool {
	select {
	case <-c.intr:
		return true
	default:
		return false
	}
}

// context returns parent, also cancelled when Ctrl-C is typed at the
// prompt.
func (c *console) context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-c.intr:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// close puts the terminal back as it was. The goroutine that reads
// stdin may stay blocked in its read: it ends with the process.
func (c *console) close() {
	c.closeMu.Do(func() {
		close(c.stop)
		if c.term != nil {
			c.winch()
			// Leave the cursor at the start of a line of its own, for
			// the shell's prompt: a line half typed (never sent) stays
			// on the screen as it is, and the cursor goes below it; an
			// idle prompt is erased.
			if c.typing.Load() {
				_, _ = c.raw.w.Write([]byte("\r\n"))
			} else {
				c.term.SetPrompt("")
				_, _ = c.term.Write(nil)
			}
			_ = term.Restore(c.fd, c.state)
		}
	})
}

// rawIO is the terminal's input and output in raw mode. Raw mode turns
// off the signals the terminal would send, so rawIO takes Ctrl-C out of
// the input and calls ctrlC (the line editor would read it as the end of
// input).
type rawIO struct {
	r     io.Reader
	w     io.Writer
	ctrlC func()
	typed func() // told of the keys that reach the line editor
}

func (t *rawIO) Read(p []byte) (int, error) {
	for {
		n, err := t.r.Read(p)
		if bytes.IndexByte(p[:n], 3) >= 0 { // Ctrl-C
			t.ctrlC()
			n = copy(p, bytes.ReplaceAll(p[:n], []byte{3}, nil))
		}
		if n > 0 && !(n == 1 && p[0] == 4) { // Ctrl-D alone ends the input, it types nothing
			t.typed()
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func (t *rawIO) Write(p []byte) (int, error) { return t.w.Write(p) }

// setTermSize tells the line editor the terminal's size. A terminal that
// reports none (a pty nobody sized: `script` under a pipe, some CI
// runners and editors say 0x0) keeps the editor's default of 80 columns:
// a width of 0 would make it break the line after every character.
func setTermSize(t *term.Terminal, fd int) {
	if w, h, err := term.GetSize(fd); err == nil && w > 0 {
		_ = t.SetSize(w, h)
	}
}

// isSameTerminal reports whether w is a terminal too (stderr left on the
// terminal, as it usually is): its lines then go through the line editor.
func isSameTerminal(w io.Writer, out *os.File) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readLines sends each line of r, without its line ending, on lines, and
// closes lines at EOF or when stop is closed.
func readLines(r io.Reader, lines chan<- []byte, stop <-chan struct{}) {
	defer close(lines)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			select {
			case lines <- line:
			case <-stop:
				return
			}
		}
		if err != nil {
			return
		}
	}
}
