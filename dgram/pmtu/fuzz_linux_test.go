package pmtu

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvErrCmsg builds an IP_RECVERR control message: an ICMP
// "fragmentation needed" naming 1280, from 198.18.1.1.
func recvErrCmsg() []byte {
	ee := make([]byte, eeSize+16)
	ee[4], ee[5], ee[6] = originICMP, 3, 4
	binary.NativeEndian.PutUint32(ee[8:], 1280)
	binary.NativeEndian.PutUint16(ee[eeSize:], unix.AF_INET)
	copy(ee[eeSize+4:], []byte{198, 18, 1, 1})
	b := make([]byte, unix.CmsgSpace(len(ee)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_IP, unix.IP_RECVERR
	h.SetLen(unix.CmsgLen(len(ee)))
	copy(b[unix.CmsgLen(0):], ee)
	return b
}

// FuzzParseErr feeds arbitrary control messages to the IP_RECVERR parser:
// it must never panic or read past them.
func FuzzParseErr(f *testing.F) {
	f.Add(recvErrCmsg())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := parseErr(b)
		if ok && r.from.IsValid() && !r.from.Is4() && !r.from.Is6() {
			t.Fatalf("offender %v", r.from)
		}
	})
}

// TestParseErr reads the fuzzer's seed: an ICMP "fragmentation needed"
// naming 1280.
func TestParseErr(t *testing.T) {
	r, ok := parseErr(recvErrCmsg())
	if big, local := r.tooBig(); !ok || !big || local || r.mtu != 1280 || r.from.String() != "198.18.1.1" {
		t.Errorf("parseErr = %+v, %v; want too big, MTU 1280 from 198.18.1.1", r, ok)
	}
}
