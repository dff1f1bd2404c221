// Package serve runs a datagram server on a socket the caller opened, in
// the shape of miekg/dns's server: a Server configured by its fields, a
// Handler called for each datagram, readiness told by a callback
// (NotifyStartedFunc), and a Shutdown that wakes the reader with a read
// deadline in the past and waits for it.
//
// It is the serve loop of `udpchat listen` (idle timeout, count, echo
// through the guard and the seal), in the library, so that any Go program
// can serve the way the CLI does:
//
//   - reads and writes are batched (recvmmsg/sendmmsg through a
//     dgram.BatchConn, GRO where asked), and a Handler's replies leave in
//     one batch after each batch read;
//   - every reply leaves from the address its peer contacted: a socket
//     bound to a wildcard address (":9000") has its destination address
//     reported per datagram (IP_PKTINFO, IPV6_RECVPKTINFO) and the reply
//     carries it as its source, as miekg/dns's correctSource does, so a
//     client that wrote to a host's second address (and reads on a
//     connected socket) sees the answer;
//   - with a seal.Opener every datagram must authenticate before the
//     Handler sees it, and with a seal.Sealer every reply is sealed;
//   - with a guard.Guard no reply goes to a source the guard refuses, so
//     the server cannot be turned into a reflector;
//   - IdleTimeout and Count end it, as listen's --timeout and --count do.
//
// An echo server on every address:
//
//	conn, _ := dgram.Listen(ctx, ":9000")
//	srv := &serve.Server{Conn: conn, Handler: serve.Echo, Guard: guard.New(guard.Config{})}
//	go srv.ActivateAndServe()
//	...
//	srv.Shutdown(ctx)
//	conn.Close() // the Server never closes the socket it was given
package serve
