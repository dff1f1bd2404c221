package dgram

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParseOOB checks the control-message decoder two ways. Any bytes:
// parseOOB never panics nor reads past the buffer, whatever lengths the
// headers claim. Well-formed messages built from the fuzzed values (a
// destination, interface, TTL, GRO segment and drop counter, in the order
// the kernel writes them): parseOOB reports exactly those values.
func FuzzParseOOB(f *testing.F) {
	f.Add([]byte{}, []byte{198, 18, 0, 1}, int32(3), int32(64), uint16(1400), uint32(0))
	f.Add(make([]byte, unix.SizeofCmsghdr), netip.MustParseAddr("2001:db8::1").AsSlice(), int32(7), int32(255), uint16(0), uint32(9))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2}, []byte{}, int32(0), int32(1), uint16(64), uint32(1))
	f.Fuzz(func(t *testing.T, raw, addr []byte, ifIndex, ttl int32, seg uint16, drops uint32) {
		var junk meta
		parseOOB(raw, &junk) // must not panic

		b := make([]byte, oobRead)
		n := 0
		put := func(level, typ int32, v uint32) {
			data, k := putCmsg(b[n:], level, typ, 4)
			binary.NativeEndian.PutUint32(data, v)
			n += k
		}
		if drops > 0 {
			put(unix.SOL_SOCKET, unix.SO_RXQ_OVFL, drops)
		}
		if seg > 0 {
			put(unix.SOL_UDP, unix.UDP_GRO, uint32(seg))
		}
		dst, ok := netip.AddrFromSlice(addr)
		if ok {
			dst = dst.Unmap()
			n += putSource(b[n:], dst, int(ifIndex))
			// putSource fills ipi_spec_dst; the kernel reports the
			// header's destination in ipi_addr: copy it there
			if dst.Is4() {
				a := dst.As4()
				copy(b[n-unix.CmsgSpace(unix.SizeofInet4Pktinfo)+unix.CmsgLen(0)+8:], a[:])
			}
		}
		if ttl > 0 {
			typ, level := int32(unix.IP_TTL), int32(unix.IPPROTO_IP)
			if dst.Is6() {
				typ, level = unix.IPV6_HOPLIMIT, unix.IPPROTO_IPV6
			}
			put(level, typ, uint32(ttl))
		}
		var m meta
		parseOOB(b[:n], &m)
		want := meta{drops: drops, segment: int(seg)}
		if ok {
			want.dst, want.ifIndex = dst, int(ifIndex)
			if dst.Is6() {
				want.ifIndex = int(uint32(ifIndex))
			}
		}
		if ttl > 0 {
			want.ttl = int(ttl)
		}
		if m != want {
			t.Fatalf("parseOOB = %+v, want %+v", m, want)
		}
	})
}
