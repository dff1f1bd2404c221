//go:build unix

package dgram

import "golang.org/x/sys/unix"

// msgTrunc is the MSG_TRUNC flag of recvmsg.
const msgTrunc = unix.MSG_TRUNC
