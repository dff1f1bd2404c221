//go:build !linux

package dgram

func parseDrops(oob []byte) (uint32, bool) { return 0, false }

var oobSize = 0
