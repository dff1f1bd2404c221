package dgram

import (
	"encoding/binary"
	"syscall"
	"unsafe"
)

// cmsgIter walks the control messages of one received datagram without
// allocating.
type cmsgIter struct{ rest []byte }

// next returns the next control message's level, type and data.
func (it *cmsgIter) next() (level, typ int32, data []byte, ok bool) {
	const hdr = syscall.SizeofCmsghdr
	if len(it.rest) < hdr {
		return 0, 0, nil, false
	}
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&it.rest[0]))
	l := int(h.Len)
	if l < hdr || l > len(it.rest) {
		it.rest = nil
		return 0, 0, nil, false
	}
	data = it.rest[hdr:l]
	adv := cmsgAlign(l)
	if adv > len(it.rest) {
		adv = len(it.rest)
	}
	it.rest = it.rest[adv:]
	return h.Level, h.Type, data, true
}

func cmsgAlign(n int) int {
	const a = int(unsafe.Sizeof(uintptr(0)))
	return (n + a - 1) &^ (a - 1)
}

// parseDrops returns the SO_RXQ_OVFL counter carried in oob, if any. The
// kernel attaches it only once the counter is non-zero.
func parseDrops(oob []byte) (uint32, bool) {
	it := cmsgIter{oob}
	for {
		level, typ, data, ok := it.next()
		if !ok {
			return 0, false
		}
		if level == syscall.SOL_SOCKET && typ == syscall.SO_RXQ_OVFL && len(data) >= 4 {
			return binary.NativeEndian.Uint32(data), true
		}
	}
}

// oobSize is the control-message buffer a Reader passes to recvmsg: room
// for the drop counter and a UDP_GRO segment size.
var oobSize = syscall.CmsgSpace(4) + syscall.CmsgSpace(4)
