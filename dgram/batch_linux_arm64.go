package dgram

const (
	sysRecvmmsg = 243
	sysSendmmsg = 269
)
