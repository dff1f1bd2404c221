//go:build unix

package dgram

import "syscall"

// msgTrunc is the MSG_TRUNC flag of recvmsg.
const msgTrunc = syscall.MSG_TRUNC
