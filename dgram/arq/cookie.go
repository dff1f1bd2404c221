package arq

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
	"time"
)

// Address validation. A Listener answers a SYN with a SYN-ACK that carries
// a cookie, and keeps nothing: no table entry, no buffer, no timer. Only a
// client that received the cookie at its address can echo it back in a
// COOKIE packet, and only then does the connection exist (as TCP's SYN
// cookies and QUIC's Retry tokens do). So a flood of SYNs from spoofed
// addresses costs the server one small answer each, and the answers to an
// address that never asked are at most 1.5x what was sent in its name.
//
// The cookie is 16 bytes: a 4-byte timestamp (Unix seconds) and the first
// 12 bytes of HMAC-SHA256(secret, timestamp | client IP (16 bytes) | client
// port | connection ID), under a secret the Listener draws at random.

// cookieLifetime bounds how old a cookie a server takes back.
func cookieLifetime(cfg *Config) time.Duration { return max(cfg.IdleTimeout, 30*time.Second) }

// cookieMAC computes the MAC part of a cookie; mac is an HMAC-SHA256 under
// the secret, reused.
func cookieMAC(mac hash.Hash, ts uint32, from netip.AddrPort, id uint32, out []byte) {
	var b [4 + 16 + 2 + 4]byte
	binary.BigEndian.PutUint32(b[0:], ts)
	a := from.Addr().As16()
	copy(b[4:], a[:])
	binary.BigEndian.PutUint16(b[20:], from.Port())
	binary.BigEndian.PutUint32(b[22:], id)
	mac.Reset()
	mac.Write(b[:])
	var sum [sha256.Size]byte
	copy(out, mac.Sum(sum[:0]))
}

// mintCookie returns the cookie for a client at from opening id, at now.
func mintCookie(mac hash.Hash, from netip.AddrPort, id uint32, now time.Time) (c [CookieLen]byte) {
	ts := uint32(now.Unix())
	binary.BigEndian.PutUint32(c[:], ts)
	cookieMAC(mac, ts, from, id, c[4:])
	return c
}

// checkCookie reports whether c is a cookie this server minted for from
// and id, at most lifetime ago.
func checkCookie(mac hash.Hash, c [CookieLen]byte, from netip.AddrPort, id uint32, now time.Time, lifetime time.Duration) bool {
	ts := binary.BigEndian.Uint32(c[:])
	age := now.Unix() - int64(ts)
	if age < -1 || time.Duration(age)*time.Second > lifetime {
		return false
	}
	var want [CookieLen - 4]byte
	cookieMAC(mac, ts, from, id, want[:])
	return hmac.Equal(want[:], c[4:])
}

func newMAC(secret []byte) hash.Hash { return hmac.New(sha256.New, secret) }

// Gate is a server's stateless side of the handshake, for drivers of
// their own (Listener uses one): it answers a SYN with a SYN-ACK that
// carries a cookie, and checks the cookie a COOKIE packet echoes. It keeps
// nothing per client. It is not safe for concurrent use (its MAC state is
// reused).
type Gate struct {
	cfg      Config
	mac      hash.Hash
	lifetime time.Duration
}

// NewGate returns a Gate for servers configured with cfg, minting cookies
// under secret (at least 16 random bytes, kept from clients).
func NewGate(cfg Config, secret []byte) *Gate {
	cfg = cfg.WithDefaults()
	return &Gate{cfg: cfg, mac: newMAC(secret), lifetime: cookieLifetime(&cfg)}
}

// SynAck fills out with the answer to syn, a SYN from a client at from.
func (g *Gate) SynAck(syn *Packet, from netip.AddrPort, now time.Time, out *Packet) {
	*out = Packet{Type: TypeSynAck, Conn: syn.Conn, Sent: now.UnixNano(), Window: uint32(min(initialRing, g.cfg.RecvWindow)),
		MSS: uint16(g.cfg.MSS), Cookie: mintCookie(g.mac, from, syn.Conn, now)}
}

// Check reports whether p, a COOKIE packet from a client at from, echoes
// a cookie this Gate minted for that address and connection ID, recently
// enough. If so, NewServer(cfg, p.Conn, p.Window, p.MSS, now) is the
// connection.
func (g *Gate) Check(p *Packet, from netip.AddrPort, now time.Time) bool {
	return p.Type == TypeCookie && checkCookie(g.mac, p.Cookie, from, p.Conn, now, g.lifetime)
}
