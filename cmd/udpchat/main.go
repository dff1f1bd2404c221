// Command udpchat is a netcat for UDP datagrams that explains itself:
// listen, send, chat, echo and more, on real sockets. Run `udpchat --help`.
package main

import (
	"os"
)

func main() {
	ctx, stop := signalContext()
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
