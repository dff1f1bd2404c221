package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

// frames joins frames with a 2-byte length before each, the way the fuzz
// target cuts its input.
func frames(fs ...[]byte) []byte {
	var b []byte
	for _, f := range fs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// FuzzChecker feeds a Checker any sequence of frames (the input cut by
// 2-byte lengths) and checks that it never panics, never counts more file
// bytes than the header declared, and that a transfer it calls good
// really has a header, a matching checksum and the declared size.
func FuzzChecker(f *testing.F) {
	data := []byte("file bytes")
	sum := sha256.Sum256(data)
	f.Add(frames(AppendHeader(nil, Header{Kind: KindFile, Name: "f", Size: 10}), append([]byte{'D'}, data...), append([]byte{'S'}, sum[:]...)))
	msum := sha256.Sum256([]byte("hi\n"))
	f.Add(frames(AppendHeader(nil, Header{Kind: KindMessages, Size: -1}), []byte("Mhi"), append([]byte{'S'}, msum[:]...)))
	f.Add(frames([]byte("Dnope"), []byte("H{}")))
	f.Add(frames([]byte(`H{"udpchat":1,"kind":"file","name":"../x","size":-5}`)))
	f.Add(frames(AppendHeader(nil, Header{Kind: KindFile, Name: "f", Size: 3}), []byte("Dtoo long"), []byte("S")))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := NewChecker()
		var fed [][]byte
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			fr := in[:n]
			in = in[n:]
			typ, payload, err := c.Feed(fr)
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("Feed error %v does not wrap ErrFormat", err)
				}
				return // a receiver stops at the first bad frame
			}
			if (typ == FrameData || typ == FrameMessage) && !bytes.Equal(payload, fr[1:]) {
				t.Fatalf("payload of %q is not the frame's body", typ)
			}
			fed = append(fed, fr)
			if h, ok := c.Header(); ok && h.Kind == KindFile && c.Bytes() > h.Size {
				t.Fatalf("%d file bytes accepted, over the declared %d", c.Bytes(), h.Size)
			}
		}
		end := c.End()
		if end.Code != "" {
			return
		}
		h, ok := c.Header()
		if !ok || len(fed) < 2 || fed[0][0] != FrameHeader || fed[len(fed)-1][0] != FrameSum {
			t.Fatalf("a transfer of %d frames passed without a header first and a checksum last", len(fed))
		}
		hs := sha256.New()
		for _, fr := range fed[1 : len(fed)-1] {
			hs.Write(fr[1:])
			if fr[0] == FrameMessage {
				hs.Write([]byte{'\n'})
			}
		}
		if !bytes.Equal(hs.Sum(nil), fed[len(fed)-1][1:]) {
			t.Fatal("a transfer passed with a checksum that does not match")
		}
		if h.Kind == KindFile && c.Bytes() != h.Size {
			t.Fatalf("a file of %d bytes passed, declared %d", c.Bytes(), h.Size)
		}
	})
}

// FuzzVerdict: a verdict that parses re-encodes to one that parses the
// same.
func FuzzVerdict(f *testing.F) {
	f.Add(AppendVerdict(nil, Verdict{Status: StatusSaved, Name: "x", Bytes: 5, SHA256: "ab"})[1:])
	f.Add(AppendVerdict(nil, Verdict{Status: StatusRefused, Code: CodeExists, Reason: "x exists"})[1:])
	f.Add([]byte(`{"status":"refused"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVerdict(b)
		if err != nil {
			return
		}
		w, err := ParseVerdict(AppendVerdict(nil, v)[1:])
		if err != nil || w != v {
			t.Fatalf("%+v re-parsed as %+v, %v", v, w, err)
		}
	})
}

// FuzzSafeName: what SafeName keeps is a single, harmless path element.
func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"photo.jpg", "../../etc/passwd", `C:\x\y.txt`, "a\x1b[31mb", "..", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := SafeName(s)
		if n == "" {
			return
		}
		if n == "." || n == ".." || bytes.ContainsAny([]byte(n), "/\\\x00") {
			t.Fatalf("SafeName(%q) = %q", s, n)
		}
		for _, r := range n {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("SafeName(%q) = %q keeps a control character", s, n)
			}
		}
	})
}
