//go:build !unix

package dgram

// msgTrunc is 0 where recvmsg has no MSG_TRUNC flag: truncation is not
// detected there.
const msgTrunc = 0
