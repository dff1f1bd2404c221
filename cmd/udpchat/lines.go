package main

import (
	"encoding/hex"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Append-style formatting for the per-datagram lines of listen, which run
// once per datagram: they reuse one buffer and allocate nothing, so that
// printing does not limit how fast listen can receive.

// appendCount appends "1 byte" or "N bytes".
func appendCount(b []byte, n int, word string) []byte {
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ' ')
	b = append(b, word...)
	if n != 1 {
		b = append(b, 's')
	}
	return b
}

// appendShown appends a payload as showPayload shows it.
func appendShown(b, p []byte) []byte {
	if isPlainText(p) {
		return append(b, p...)
	}
	return strconv.AppendQuote(b, string(p))
}

// isPlainText reports whether p reads unambiguously as it is: valid
// UTF-8, graphic characters and spaces only, not starting with a quote and
// without spaces at its edges.
func isPlainText(p []byte) bool {
	if len(p) > 0 && (p[0] == '"' || p[0] == ' ' || p[len(p)-1] == ' ') {
		return false
	}
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 || !unicode.IsGraphic(r) {
			return false
		}
		i += size
	}
	return true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; s must be valid UTF-8.
// Besides what JSON requires (quote, backslash, C0 controls), it escapes
// DEL and the C1 controls U+0080..U+009F (the 8-bit CSI, U+009B, among
// them), which a terminal may obey when the JSON is shown raw.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[s[i+1]>>4], hexDigits[s[i+1]&0xf])
			i++
			start = i + 1
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONPayload appends `"data":"..."` when p is UTF-8 text, else
// `"data_hex":"..."`.
func appendJSONPayload(b, p []byte) []byte {
	if utf8.Valid(p) {
		b = append(b, `"data":`...)
		return appendJSONString(b, p)
	}
	b = append(b, `"data_hex":"`...)
	b = hex.AppendEncode(b, p)
	return append(b, '"')
}

// escapeControls rewrites, in JSON text that encoding/json produced, the
// characters it leaves raw although a terminal may obey them: DEL
// (\u007f) and the C1 controls U+0080..U+009F. Both can only occur
// inside strings, so a byte-level rewrite is safe. b is returned unchanged
// (not copied) when it holds none.
func escapeControls(b []byte) []byte {
	i := 0
	for ; i < len(b); i++ {
		if b[i] == 0x7f || b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
			break
		}
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == 0x7f:
			out = append(out, `\u007f`...)
		case c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f:
			out = append(out, '\\', 'u', '0', '0', hexDigits[b[i+1]>>4], hexDigits[b[i+1]&0xf])
			i++
		default:
			out = append(out, c)
		}
	}
	return out
}
