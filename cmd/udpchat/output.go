package main

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
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

func isPlainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	if len(b) > 0 && (b[0] == '"' || b[0] == ' ' || b[len(b)-1] == ' ') {
		// leading quotes or edge spaces would read ambiguously
		return false
	}
	for _, r := range string(b) {
		if r != ' ' && !unicode.IsGraphic(r) {
			return false
		}
	}
	return true
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

// jsonWriter writes one JSON object per line.
type jsonWriter struct {
	w   io.Writer
	enc *json.Encoder
}

func newJSONWriter(w io.Writer) *jsonWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonWriter{w: w, enc: enc}
}

// write encodes v as one line; errors (a closed stdout) are returned.
func (j *jsonWriter) write(v any) error { return j.enc.Encode(v) }

// plural returns "1 datagram" or "3 datagrams" ("1 reply", "2 replies").
func plural(n uint64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") && !strings.HasSuffix(word, "ay") && !strings.HasSuffix(word, "ey") {
		return strconv.FormatUint(n, 10) + " " + word[:len(word)-1] + "ies"
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
