package bench

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

// Header types the benchmark uses besides seq.TypeData (throughput
// datagrams, tracked one by one).
const (
	// TypeProbe is a latency probe: the server sends it back unchanged to
	// the client of the test that runs.
	TypeProbe seq.Type = 8
	// TypeControl carries a JSON Control message.
	TypeControl seq.Type = 9
)

// Control is the benchmark's control message, JSON after a v1 header of
// TypeControl (at most MaxControl bytes of JSON).
//
// A client says hello (mode, size, the duration, rate and report
// interval it wants, a test ID it chose). A server answers a hello that
// carries no valid token with retry and a token, which the client can
// only read at its address (RFC 9000 section 8.1, as QUIC's Retry), and
// which is no more than three times the bytes of the hello; the client
// says hello again with the token. Then the server answers ready and the
// test runs, or refused with the reason (another client's test runs, or
// the hello asks more than the server allows). During a throughput test
// the server pushes interval reports; the client says stop and the server
// answers result with its counters.
type Control struct {
	Op        string  `json:"op"` // hello, retry, ready, refused, interval, stop, result
	Mode      string  `json:"mode,omitempty"`
	Size      int     `json:"size,omitempty"`
	Busy      bool    `json:"busy,omitempty"`
	IntervalS float64 `json:"interval_s,omitempty"`
	DurationS float64 `json:"duration_s,omitempty"` // hello: how long the client will send (0: until stop)
	RatePPS   float64 `json:"rate_pps,omitempty"`   // hello: the client's sending rate (0: as fast as it can)
	Test      uint32  `json:"test,omitempty"`       // hello: the client's ID for this test
	Token     string  `json:"token,omitempty"`      // retry, and the hello that follows
	Error     string  `json:"error,omitempty"`      // refused: why
	T         float64 `json:"t,omitempty"`          // server's seconds since hello

	Received    uint64  `json:"received"`
	Unique      uint64  `json:"unique"`
	Expected    uint64  `json:"expected"`
	Lost        uint64  `json:"lost"`
	Duplicates  uint64  `json:"duplicates"`
	Reordered   uint64  `json:"reordered"`
	Malformed   uint64  `json:"malformed"`
	JitterMs    float64 `json:"jitter_ms"`
	RcvbufDrops uint64  `json:"rcvbuf_drops"`
	DropsKnown  bool    `json:"rcvbuf_drops_known"`
	Rcvbuf      int     `json:"rcvbuf"`
	GRO         bool    `json:"gro"`
}

// MaxControl bounds the JSON of a control message; longer ones are
// ignored unread.
const MaxControl = 1024

// encodeControl is the datagram of a control message.
func encodeControl(c *Control) []byte {
	b := seq.Header{Type: TypeControl}.Append(nil)
	j, _ := json.Marshal(c)
	return append(b, j...)
}

// encodeShort is the datagram of a retry or a refusal: the op and its one
// field, none of the counters, so that a retry stays small.
func encodeShort(op, token, why string) []byte {
	b := seq.Header{Type: TypeControl}.Append(nil)
	j, _ := json.Marshal(struct {
		Op    string `json:"op"`
		Token string `json:"token,omitempty"`
		Error string `json:"error,omitempty"`
	}{op, token, why})
	return append(b, j...)
}

// decodeControl parses a control message's body; ok is false for one
// that is too long or not JSON.
func decodeControl(body []byte) (c Control, ok bool) {
	if len(body) > MaxControl || json.Unmarshal(body, &c) != nil {
		return Control{}, false
	}
	return c, true
}

// Amplification is the most a server sends, in bytes, to an address that
// has not proved it receives there, for each byte it received from it
// (RFC 9000 section 8).
const Amplification = 3

// tokens makes and checks address-validation tokens: an expiry time and
// an HMAC over it and the client's address, under a key drawn when the
// server starts. Stateless: a server remembers nothing for a hello it
// answers with retry.
type tokens struct {
	mac      hash.Hash
	lifetime time.Duration
}

const tokenMACLen = 16

func newTokens(lifetime time.Duration) *tokens {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &tokens{mac: hmac.New(sha256.New, key), lifetime: lifetime}
}

func (t *tokens) sum(dst []byte, addr netip.AddrPort, expiry uint64) []byte {
	t.mac.Reset()
	a := addr.Addr().Unmap().As16()
	t.mac.Write(a[:])
	var b [10]byte
	binary.BigEndian.PutUint16(b[:2], addr.Port())
	binary.BigEndian.PutUint64(b[2:], expiry)
	t.mac.Write(b[:])
	return t.mac.Sum(dst)[:len(dst)+tokenMACLen]
}

// make returns a token for addr, valid until now+lifetime.
func (t *tokens) make(addr netip.AddrPort, now time.Time) string {
	expiry := uint64(now.Add(t.lifetime).Unix())
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+sha256.Size), expiry)
	b = t.sum(b, addr, expiry)
	return base64.RawURLEncoding.EncodeToString(b)
}

// valid reports whether tok is a token made for addr that has not expired.
func (t *tokens) valid(tok string, addr netip.AddrPort, now time.Time) bool {
	var raw [8 + tokenMACLen]byte
	if len(tok) != base64.RawURLEncoding.EncodedLen(len(raw)) {
		return false
	}
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(tok)); err != nil || n != len(raw) {
		return false
	}
	expiry := binary.BigEndian.Uint64(raw[:8])
	unix := uint64(max(now.Unix(), 0))
	if expiry < unix || expiry > unix+uint64(t.lifetime/time.Second)+1 {
		return false
	}
	var want [sha256.Size]byte
	return subtle.ConstantTimeCompare(t.sum(want[:0], addr, expiry), raw[8:8+tokenMACLen]) == 1
}
