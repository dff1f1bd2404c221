package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
)

// maxKeyFile bounds what LoadKeyFile reads.
const maxKeyFile = 4096

// SecretLen is the size of the secret `udpchat keygen` writes, in bytes.
const SecretLen = 32

// MinSecretLen is the shortest secret NewKey accepts.
const MinSecretLen = 16

// labels of the key schedule.
const (
	extractSalt   = "udpchat seal v1"
	sessionPrefix = "udpchat seal v1 session "
)

// Key is the pseudorandom key extracted from a shared secret. It derives a
// cipher for every session and is safe for concurrent use.
type Key struct {
	prk []byte
}

// NewKey extracts a Key from secret, which must hold at least MinSecretLen
// bytes.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("seal: a secret of %d bytes is too short: it takes at least %d", len(secret), MinSecretLen)
	}
	prk, err := hkdf.Extract(sha256.New, secret, []byte(extractSalt))
	if err != nil {
		return nil, err
	}
	return &Key{prk: prk}, nil
}

// aead returns the cipher of one session.
func (k *Key) aead(session uint64) (cipher.AEAD, error) {
	var info [len(sessionPrefix) + 8]byte
	copy(info[:], sessionPrefix)
	putUint64(info[len(sessionPrefix):], session)
	key, err := hkdf.Expand(sha256.New, k.prk, string(info[:]), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sessionAEAD is aead with HKDF-Expand written out for its one block of
// output (T(1) = HMAC(prk, info || 0x01), RFC 5869) on mac, an HMAC keyed
// with prk that the caller reuses: a receiver derives keys for sessions
// it does not know yet, and that work should cost what it must.
func (k *Key) sessionAEAD(mac hash.Hash, session uint64) (cipher.AEAD, error) {
	var info [len(sessionPrefix) + 8 + 1]byte
	copy(info[:], sessionPrefix)
	putUint64(info[len(sessionPrefix):], session)
	info[len(info)-1] = 1
	mac.Reset()
	mac.Write(info[:])
	var key [sha256.Size]byte
	block, err := aes.NewCipher(mac.Sum(key[:0]))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// GenerateSecret returns SecretLen random bytes.
func GenerateSecret() []byte {
	b := make([]byte, SecretLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return b
}

// FormatSecret is the key file's text: the secret in hex and a newline.
func FormatSecret(secret []byte) []byte {
	return []byte(hex.EncodeToString(secret) + "\n")
}

// ErrKeyFormat is returned (wrapped) for a key file that holds no secret in
// the expected form.
var ErrKeyFormat = errors.New("not a udpchat key")

// ParseSecret reads a key file's content: hex digits (at least
// 2*MinSecretLen of them; whitespace around them is ignored), as
// FormatSecret writes.
func ParseSecret(data []byte) ([]byte, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return nil, fmt.Errorf("%w: it is empty (udpchat keygen FILE writes one)", ErrKeyFormat)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: expected %d hex digits as udpchat keygen writes", ErrKeyFormat, 2*SecretLen)
	}
	if len(b) < MinSecretLen {
		return nil, fmt.Errorf("%w: %d bytes of secret is too short, it takes at least %d", ErrKeyFormat, len(b), MinSecretLen)
	}
	return b, nil
}

// LoadKeyFile reads the secret in path and returns its Key. warning is
// non-empty when the file can be read by users other than its owner.
func LoadKeyFile(path string) (k *Key, warning string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if looksLikeSecret(path) {
			// A key given where its file's path belongs: never repeat it.
			return nil, "", fmt.Errorf("key file not found, and its name looks like a key itself: give the path of a file that holds the key (udpchat keygen FILE writes one): %w", fs.ErrNotExist)
		}
		return nil, "", fmt.Errorf("key file %s does not exist (udpchat keygen %s writes a new one): %w", path, path, fs.ErrNotExist)
	}
	if err != nil {
		if looksLikeSecret(path) {
			return nil, "", fmt.Errorf("key file: %w", errors.Unwrap(err))
		}
		return nil, "", fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("key file: %w", err)
	}
	if st.IsDir() {
		return nil, "", fmt.Errorf("key file %s is a directory", path)
	}
	// Read through a limit rather than by Size: a pipe (<(cat key)) or a
	// special file has no size.
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, "", fmt.Errorf("key file: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, "", fmt.Errorf("key file %s: %w: it is far too long", path, ErrKeyFormat)
	}
	secret, err := ParseSecret(data)
	if err != nil {
		return nil, "", fmt.Errorf("key file %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); st.Mode().IsRegular() && perm&0o077 != 0 {
		warning = fmt.Sprintf("key file %s can be read by others (mode %04o): chmod 600 %s", path, perm, path)
	}
	k, err = NewKey(secret)
	return k, warning, err
}

// WriteKeyFile writes a new random secret to path with mode 0600. It
// refuses to overwrite an existing file.
func WriteKeyFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: a key file is never overwritten (remove it first, or pick another name)", path)
		}
		return fmt.Errorf("cannot create the key file: %w", err)
	}
	if _, err := f.Write(FormatSecret(GenerateSecret())); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	// The mode is set again in case the file system ignored it at create.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// looksLikeSecret reports whether s, given as a key file's path, looks
// like key material rather than a path: long, no path separator or
// extension, and hex digits (a mistyped key, a digit short or with a
// typo, included). Errors never show such a value.
func looksLikeSecret(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) < MinSecretLen || strings.ContainsAny(s, "/.") {
		return false
	}
	hexDigits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			hexDigits++
		}
	}
	return hexDigits*10 >= len(s)*9
}
