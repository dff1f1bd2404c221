package room

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadNick is wrapped by CheckNick's errors.
var ErrBadNick = errors.New("bad nick")

// CheckNick reports whether nick may be used in a room: 1 to MaxNickLen
// bytes of UTF-8, made of letters, digits, '-', '_' and '.', starting with
// a letter or a digit. Nicks are compared without regard to case (see
// FoldNick): "Alice" and "alice" cannot both be in one room.
func CheckNick(nick string) error {
	if nick == "" {
		return fmt.Errorf("%w: a nick cannot be empty", ErrBadNick)
	}
	if len(nick) > MaxNickLen {
		return fmt.Errorf("%w: %q is %d bytes long (at most %d)", ErrBadNick, nick, len(nick), MaxNickLen)
	}
	if !utf8.ValidString(nick) {
		return fmt.Errorf("%w: %q is not UTF-8 text", ErrBadNick, nick)
	}
	for i, r := range nick {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case (r == '-' || r == '_' || r == '.') && i > 0:
		default:
			return fmt.Errorf("%w: %q: use letters, digits, '-', '_' and '.' (starting with a letter or a digit)", ErrBadNick, nick)
		}
	}
	return nil
}

// FoldNick returns the form under which nicks are compared: the same for
// "Alice" and "alice".
func FoldNick(nick string) string { return strings.ToLower(nick) }

// CheckText reports whether text may be sent as a message of a room whose
// limit is max bytes: valid UTF-8, at most max bytes.
func CheckText(text []byte, max int) error {
	if len(text) > max {
		return &TooLongError{Len: len(text), Max: max}
	}
	if !utf8.Valid(text) {
		return ErrNotText
	}
	return nil
}

// ErrNotText is the error for a message that is not UTF-8 text, which
// every message must be.
var ErrNotText = errors.New("room: a message must be UTF-8 text")

// TooLongError is a message over the room's limit.
type TooLongError struct {
	Len, Max int
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("room: a message of %d bytes is over the room's limit of %d bytes", e.Len, e.Max)
}
