package arq

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

func TestPacketRoundTrip(t *testing.T) {
	pkts := []Packet{
		{Type: TypeSyn, Conn: 7, Window: 8192, MSS: 1400, Sent: 99},
		{Type: TypeSynAck, Conn: 7, Window: 100, MSS: 1200, Cookie: [CookieLen]byte{1, 2, 3, 15: 9}},
		{Type: TypeCookie, Conn: 7, Window: 64, MSS: 1400, Cookie: [CookieLen]byte{4, 5, 6, 15: 7}},
		{Type: TypeData, Seq: 42, Conn: 7, Flags: FlagEnd | FlagRetx, Payload: []byte("hello")},
		{Type: TypeData, Seq: 1 << 40, Conn: 1, Payload: []byte{}},
		{Type: TypeAck, Seq: 10, Conn: 7, Window: 55, NSACK: 2, SACK: [MaxSACK]Range{{12, 15}, {20, 21}}},
		{Type: TypeAck, Seq: 0, Conn: 7, Window: 0},
		{Type: TypeAck, Seq: 10, Conn: 7, Window: 9, Echo: 1 << 60, NSACK: 1, SACK: [MaxSACK]Range{{14, 15}}, NDSACK: 2, DSACK: [MaxDSACK]Range{{3, 4}, {12, 13}}},
		{Type: TypeFin, Seq: 300, Conn: 7, Flags: FinAcks},
		{Type: TypeFinAck, Conn: 7},
		{Type: TypeReset, Conn: 7, Reason: ReasonFailed},
		{Type: TypePing, Conn: 7},
	}
	for _, p := range pkts {
		b := p.Append(nil)
		if !IsArq(b) {
			t.Errorf("IsArq(%d) = false", p.Type)
		}
		var q Packet
		if err := Decode(b, &q); err != nil {
			t.Fatalf("Decode(type %d) = %v", p.Type, err)
		}
		if n := len(b); n != p.Len() {
			t.Errorf("type %d: Len() = %d, encoded %d bytes", p.Type, p.Len(), n)
		}
		if q.Payload == nil && p.Payload != nil {
			q.Payload = []byte{}
		}
		if q.Type != p.Type || q.Seq != p.Seq || q.Conn != p.Conn || q.Flags != p.Flags || !bytes.Equal(q.Payload, p.Payload) ||
			q.Window != p.Window || q.MSS != p.MSS || q.NSACK != p.NSACK || q.SACK != p.SACK || q.Echo != p.Echo || q.NDSACK != p.NDSACK || q.DSACK != p.DSACK || q.Reason != p.Reason || q.Sent != p.Sent ||
			q.Cookie != p.Cookie {
			t.Errorf("round trip of %+v gave %+v", p, q)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := (&Packet{Type: TypeAck, Seq: 5, Conn: 1, Window: 3, NSACK: 1, SACK: [MaxSACK]Range{{7, 9}}}).Append(nil)
	flip := append([]byte(nil), good...)
	flip[10] ^= 4
	var p Packet
	if err := Decode(flip, &p); !errors.Is(err, ErrChecksum) {
		t.Errorf("a flipped bit: %v, want ErrChecksum", err)
	}
	if err := Decode(good[:10], &p); !errors.Is(err, ErrShort) {
		t.Errorf("10 bytes: %v, want ErrShort", err)
	}
	// a SACK range at or below the cumulative ack is malformed, even with a good checksum
	bad := (&Packet{Type: TypeAck, Seq: 5, Conn: 1, NSACK: 1, SACK: [MaxSACK]Range{{3, 9}}}).Append(nil)
	if err := Decode(bad, &p); !errors.Is(err, ErrFormat) {
		t.Errorf("SACK below the cumulative ack: %v, want ErrFormat", err)
	}
	// an empty D-SACK range is malformed too
	empty := (&Packet{Type: TypeAck, Seq: 5, Conn: 1, NDSACK: 1, DSACK: [MaxDSACK]Range{{4, 4}}}).Append(nil)
	if err := Decode(empty, &p); !errors.Is(err, ErrFormat) {
		t.Errorf("empty D-SACK range: %v, want ErrFormat", err)
	}
	unknown := (&Packet{Type: 99, Conn: 1}).Append(nil)
	if err := Decode(unknown, &p); !errors.Is(err, ErrType) {
		t.Errorf("type 99: %v, want ErrType", err)
	}
}

func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 2048)
	p := Packet{Type: TypeData, Seq: 1, Conn: 2, Payload: make([]byte, 1400)}
	var q Packet
	if n := testing.AllocsPerRun(1000, func() {
		buf = p.Append(buf[:0])
		if err := Decode(buf, &q); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Append+Decode allocate %v times, want 0", n)
	}
}

// fuzzSeeds are valid packets of every type, for the fuzz targets.
var fuzzSeeds = []Packet{
	{Type: TypeData, Seq: 3, Conn: 9, Flags: FlagEnd, Payload: []byte("payload")},
	{Type: TypeAck, Seq: 10, Conn: 9, Window: 4, NSACK: 2, SACK: [MaxSACK]Range{{12, 14}, {16, 30}}},
	{Type: TypeAck, Seq: 10, Conn: 9, Window: 4, Echo: 77, NSACK: 1, SACK: [MaxSACK]Range{{12, 14}}, NDSACK: 2, DSACK: [MaxDSACK]Range{{8, 9}, {11, 13}}},
	{Type: TypeSyn, Conn: 9, Window: 10, MSS: 1400},
	{Type: TypeFin, Seq: 8, Conn: 9},
	{Type: TypeReset, Conn: 9, Reason: 1},
	{Type: TypeSynAck, Conn: 9, Window: 64, MSS: 1400, Cookie: [CookieLen]byte{1, 15: 2}},
	{Type: TypeCookie, Conn: 9, Window: 64, MSS: 1400, Cookie: [CookieLen]byte{3, 15: 4}},
}

// checkDecoded is what both fuzz targets check of a packet that decoded.
func checkDecoded(t *testing.T, b []byte, p *Packet) {
	// what decodes re-encodes to the same bytes, of the length Len says
	if re := p.Append(nil); !bytes.Equal(re, b) || p.Len() != len(b) {
		t.Fatalf("re-encoding % x gave % x", b, re)
	}
	for _, r := range p.SACK[:p.NSACK] {
		if r.Start >= r.End || r.Start <= p.Seq {
			t.Fatalf("accepted a bad SACK range %+v (cum %d)", r, p.Seq)
		}
	}
	for _, r := range p.DSACK[:p.NDSACK] {
		if r.Start >= r.End {
			t.Fatalf("accepted an empty D-SACK range %+v", r)
		}
	}
}

// FuzzDecodeBody fuzzes what follows the checksum: the fuzzer's bytes
// get a right CRC-32C, so that it explores the fields' parsing, which a
// random checksum almost never lets it reach.
func FuzzDecodeBody(f *testing.F) {
	for _, p := range fuzzSeeds {
		b := p.Append(nil)
		f.Add(b[:len(b)-crcLen])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := binary.BigEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
		var p Packet
		if err := Decode(b, &p); err != nil {
			return
		}
		checkDecoded(t, b, &p)
	})
}

func FuzzDecode(f *testing.F) {
	for _, p := range fuzzSeeds {
		f.Add(p.Append(nil))
	}
	f.Add([]byte("dg\x01\x13"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := Decode(b, &p); err != nil {
			return
		}
		checkDecoded(t, b, &p)
	})
}
