package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"
)

// showPayload returns a payload as a person should see it: printable text as
// it is, anything else (control characters, a trailing newline, invalid
// UTF-8) as a Go-quoted string, so that "hi\n" and "hi" look different.
func showPayload(b []byte) string {
	if isPlainText(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

// hexDump formats b like `hexdump -C`, each line indented.
func hexDump(b []byte, indent string) string {
	if len(b) == 0 {
		return ""
	}
	d := hex.Dump(b)
	lines := strings.SplitAfter(d, "\n")
	var sb strings.Builder
	for _, l := range lines {
		if l != "" {
			sb.WriteString(indent)
			sb.WriteString(l)
		}
	}
	return sb.String()
}

// payloadJSON fills the "data" or "data_hex" field of a JSON object.
type payloadJSON struct {
	Data    *string `json:"data,omitempty"`
	DataHex *string `json:"data_hex,omitempty"`
}

func newPayloadJSON(b []byte) payloadJSON {
	if utf8.Valid(b) {
		s := string(b)
		return payloadJSON{Data: &s}
	}
	h := hex.EncodeToString(b)
	return payloadJSON{DataHex: &h}
}

// jsonWriter writes one JSON object per line. Strings carry DEL and the
// C1 controls escaped (\u007f, \u009b), as encoding/json does not: JSON
// output is often read on a terminal.
type jsonWriter struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

func newJSONWriter(w io.Writer) *jsonWriter {
	j := &jsonWriter{w: w}
	j.enc = json.NewEncoder(&j.buf)
	j.enc.SetEscapeHTML(false)
	return j
}

// write encodes v as one line; errors (a closed stdout) are returned.
func (j *jsonWriter) write(v any) error {
	j.buf.Reset()
	if err := j.enc.Encode(v); err != nil {
		return err
	}
	_, err := j.w.Write(escapeControls(trimFloatNoise(j.buf.Bytes())))
	return err
}

// noiseDigits is how many significant digits a JSON number keeps: enough
// for any figure udpchat measures (a nanosecond in a day), few enough to
// drop the noise of binary floating point (0.24430300000000002 is
// 0.244303, 24305239.904960815 is 24305239.905).
const noiseDigits = 12

// trimFloatNoise rewrites, in one line of JSON, each number with more
// significant digits than noiseDigits to the shortest form of its value
// rounded to noiseDigits. Strings are left alone. A line without such a
// number is returned as it is, without allocating.
func trimFloatNoise(b []byte) []byte {
	var out []byte // nil until a number changes
	done := 0      // b[:done] is in out already
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		if c != '-' && (c < '0' || c > '9') {
			continue
		}
		j, digits, frac := i, 0, false
		for ; j < len(b) && strings.IndexByte("+-.eE0123456789", b[j]) >= 0; j++ {
			switch {
			case b[j] >= '0' && b[j] <= '9':
				digits++
			case b[j] != '-' && b[j] != '+':
				frac = true
			}
		}
		if frac && digits > noiseDigits {
			if f, err := strconv.ParseFloat(string(b[i:j]), 64); err == nil {
				r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', noiseDigits, 64), 64)
				if enc, err := json.Marshal(r); err == nil {
					out = append(append(out, b[done:i]...), enc...)
					done = j
				}
			}
		}
		i = j - 1
	}
	if out == nil {
		return b
	}
	return append(out, b[done:]...)
}

// useColor decides whether output to w may be coloured: only on a
// terminal, never with NO_COLOR set, and as UDPCHAT_COLOR says
// (always, never, auto).
func useColor(w io.Writer) bool {
	switch strings.ToLower(os.Getenv("UDPCHAT_COLOR")) {
	case "always", "yes", "1", "true":
		return true
	case "never", "no", "0", "false":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	return isTerminal(w)
}

// isTerminal reports whether w is a terminal. Not merely a character
// device: /dev/null is one too, and it is the stdin of cron jobs, systemd
// services and `< /dev/null`, which must read as piped input (no "type a
// line" prompt; chat's --linger acts), not as a person typing.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// plural returns "1 datagram" or "3 datagrams" ("1 reply", "2 replies").
func plural(n uint64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") && !strings.HasSuffix(word, "ay") && !strings.HasSuffix(word, "ey") {
		return strconv.FormatUint(n, 10) + " " + word[:len(word)-1] + "ies"
	}
	for _, end := range []string{"s", "x", "z", "ch", "sh"} {
		if strings.HasSuffix(word, end) {
			return strconv.FormatUint(n, 10) + " " + word + "es" // addresses
		}
	}
	return strconv.FormatUint(n, 10) + " " + word + "s"
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// table aligns columns of text: the first column left-aligned, the rest
// right-aligned.
type table struct {
	w        io.Writer
	rows     [][]string
	leftFrom int // columns from this one on are left-aligned (0: none)
}

func newTable(w io.Writer) *table { return &table{w: w} }

func (t *table) row(cells ...any) {
	r := make([]string, len(cells))
	for i, c := range cells {
		r[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, r)
}

func (t *table) flush() error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t.rows {
		var sb strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				sb.WriteString(c + pad)
			case t.leftFrom > 0 && i >= t.leftFrom:
				sb.WriteString("    " + c + pad)
			default:
				sb.WriteString("  " + pad + c)
			}
		}
		if _, err := fmt.Fprintln(t.w, strings.TrimRight(sb.String(), " ")); err != nil {
			return err
		}
	}
	t.rows = nil
	return nil
}

// silenceHint explains datagrams that drew no reply from a server that
// should answer (send --wait, ping). answered is how many replies came
// before the silence: a server known to answer that falls silent may be
// rate limiting (listen --echo's guard refuses replies above --echo-rate
// a second per address), or the path drops.
func silenceHint(answered uint64) string {
	if answered > 0 {
		return "it answered before, so it may be rate limiting (listen --echo answers an address at most --echo-rate times a second), or the path drops datagrams"
	}
	return "nothing refused the datagrams; is the listener running with --echo?"
}
