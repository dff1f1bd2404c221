package transfer

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
)

// Options configures Receive.
type Options struct {
	// Dest, if set, is where a transfer is saved. Without it, a file is
	// refused (CodeNotSaved) and messages are only handed to OnMessage.
	Dest *Destination
	// OnHeader, if set, is called once the header arrived.
	OnHeader func(Header)
	// OnMessage, if set, is called with each message of a "messages"
	// transfer, in order; an error from it refuses the transfer.
	OnMessage func(m []byte) error
	// Stall, if positive, ends a transfer on which no data moved for that
	// long although the sender kept the connection alive
	// (arq.Conn.SetStallTimeout): a receiver that serves one transfer at
	// a time sets it, so that nobody can hold it.
	Stall time.Duration
	// Linger bounds how long Receive waits for the sender to take a
	// refusal before it resets the connection (default 2s).
	Linger time.Duration
}

// Received is what Receive did.
type Received struct {
	Peer     netip.AddrPort
	Header   Header
	Bytes    int64
	Messages uint64
	SHA256   [32]byte
	Path     string  // the file saved, if one was
	Verdict  Verdict // what the sender was told; Status "" if nothing
	Stats    arq.Stats
}

// Receive reads one transfer from c, checks it, saves it as o says,
// answers the sender with its verdict, and closes c. It returns an error
// when the transfer did not succeed: a *RefusedError (the verdict the
// sender was given, whose Reason says why), or the connection's error.
// When ctx ends, the connection is reset and nothing is saved.
func Receive(ctx context.Context, c *arq.Conn, o Options) (*Received, error) {
	if o.Stall > 0 {
		c.SetStallTimeout(o.Stall)
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Second
	}
	stop := context.AfterFunc(ctx, c.Abort)
	defer stop()
	r := &receiver{c: c, o: o, ck: NewChecker(), res: &Received{Peer: c.Peer()}}
	err := r.run(ctx)
	if r.part != nil {
		r.part.discard()
	}
	r.res.Bytes, r.res.Messages = r.ck.Bytes(), r.ck.Messages()
	r.res.Stats = c.Stats()
	if ctx.Err() != nil && err != nil {
		return r.res, ctx.Err()
	}
	return r.res, err
}

type receiver struct {
	c    *arq.Conn
	o    Options
	ck   *Checker
	res  *Received
	part *partFile
	w    *bufio.Writer
	werr error // a direct write's error
}

// writeChunk writes a file chunk: large ones straight to the file (no
// copy into the buffer), small ones through it.
func (r *receiver) writeChunk(b []byte) {
	if r.werr != nil {
		return
	}
	if r.w.Buffered() == 0 && len(b) >= 32<<10 {
		_, r.werr = r.part.Write(b)
		return
	}
	r.w.Write(b) // the buffer keeps its error for Flush
}

func (r *receiver) run(ctx context.Context) error {
	for {
		m, err := r.c.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			r.c.Abort()
			return err
		}
		typ, payload, ferr := r.ck.Feed(m)
		if ferr != nil {
			v := Verdict{Code: CodeProtocol, Reason: ferr.Error()}
			var fe *FrameError
			if errors.As(ferr, &fe) {
				v.Code, v.Reason = fe.Code, fe.Msg
			}
			return r.refuse(ctx, v, true)
		}
		switch typ {
		case FrameHeader:
			if v := r.start(); v != nil {
				return r.refuse(ctx, *v, true)
			}
		case FrameMessage:
			if r.o.OnMessage != nil {
				if err := r.o.OnMessage(payload); err != nil {
					return r.refuse(ctx, Verdict{Code: CodeIO, Reason: err.Error()}, true)
				}
			}
			if r.w != nil {
				r.w.Write(payload)
				r.w.WriteByte('\n')
			}
		case FrameData:
			if r.w != nil {
				r.writeChunk(payload)
			}
			r.c.Release(m) // written: its memory takes the next chunk
		}
	}
	end := r.ck.End()
	r.res.SHA256 = end.SHA256
	if end.Code != "" {
		return r.refuse(ctx, Verdict{Code: end.Code, Reason: end.Reason}, false)
	}
	v := Verdict{Status: StatusDelivered, Bytes: r.ck.Bytes(), SHA256: hex.EncodeToString(end.SHA256[:])}
	if r.part != nil {
		err := r.werr
		if err == nil {
			err = r.w.Flush()
		}
		if err == nil {
			err = r.part.commit()
		}
		if err != nil {
			return r.refuse(ctx, Verdict{Code: CodeIO, Reason: fmt.Sprintf("could not save %s: %v", filepath.Base(r.part.final), err)}, false)
		}
		v.Status, v.Name = StatusSaved, filepath.Base(r.part.final)
		r.res.Path, r.part = r.part.final, nil
	}
	r.res.Verdict = v
	if testHookVerdict != nil {
		testHookVerdict(r.c)
	}
	// The transfer is verified, and a file saved, whatever happens to the
	// connection now: if the verdict cannot be sent or the connection
	// fails before the sender heard it, that is the sender's failure to
	// report, not a transfer that did not happen here.
	_ = r.c.Send(AppendVerdict(nil, v))
	_ = r.c.Close()
	return nil
}

// testHookVerdict, set by tests, is called once a transfer is verified
// (and saved), before its verdict is sent.
var testHookVerdict func(*arq.Conn)

// start takes the header: it refuses at once what it would refuse at the
// end, and opens the file a transfer is saved into.
func (r *receiver) start() *Verdict {
	h, _ := r.ck.Header()
	r.res.Header = h
	if r.o.OnHeader != nil {
		r.o.OnHeader(h)
	}
	if r.o.Dest == nil {
		if h.Kind == KindFile {
			return &Verdict{Code: CodeNotSaved, Reason: "the receiver saves no files (it runs without --output)"}
		}
		return nil
	}
	p, refusal := r.o.Dest.path(h)
	if refusal != nil {
		return refusal
	}
	part, err := createPart(p, r.o.Dest.Force)
	if err != nil {
		return &Verdict{Code: CodeIO, Reason: fmt.Sprintf("cannot write into %s: %v", filepath.Dir(p), err)}
	}
	r.part, r.w = part, bufio.NewWriterSize(part, 1<<20)
	return nil
}

// refuse answers the transfer with a refusal. Early (the sender is still
// sending), it waits a moment for the verdict to be acknowledged and
// resets the connection; at the end, it closes it.
func (r *receiver) refuse(ctx context.Context, v Verdict, early bool) error {
	v.Status = StatusRefused
	v.Bytes = r.ck.Bytes()
	r.res.Verdict = v
	if err := r.c.Send(AppendVerdict(nil, v)); err != nil {
		return &RefusedError{Verdict: v}
	}
	if early {
		fctx, cancel := context.WithTimeout(ctx, r.o.Linger)
		_ = r.c.Flush(fctx)
		cancel()
		r.c.Reset(arq.ReasonRefused)
	} else {
		_ = r.c.Close()
	}
	return &RefusedError{Verdict: v}
}
