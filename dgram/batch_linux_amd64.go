package dgram

// System call numbers missing from package syscall on linux/amd64.
const (
	sysRecvmmsg = 299
	sysSendmmsg = 307
)
