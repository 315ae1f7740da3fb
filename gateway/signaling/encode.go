package signaling

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ErrUnknownMessage is returned when encoding a value that is not one of
// this package's message types (a pointer to one included).
var ErrUnknownMessage = errors.New("signaling: unknown message type")

// Marshal returns the wire form of m: one JSON object with its "type"
// member first. The result is a new slice; to reuse one buffer per
// connection, use an [Encoder]. Marshal fails only with [ErrUnknownMessage].
func Marshal(m Message) ([]byte, error) {
	e, _ := encoders.Get().(*Encoder)
	if e == nil {
		e = new(Encoder)
	}
	defer encoders.Put(e)
	b, err := e.Encode(m)
	if err != nil {
		return nil, err
	}

	return bytes.Clone(b), nil
}

// encoders keeps the buffers of Marshal between calls.
var encoders = sync.Pool{New: func() any { return new(Encoder) }}

// Encoder encodes messages into one reused buffer, so that a connection's
// writer encodes without growing garbage per message. The zero Encoder is
// ready to use; an Encoder is not safe for concurrent use.
type Encoder struct {
	buf bytes.Buffer
	enc jsontext.Encoder
}

// Encode returns the wire form of m (see [Marshal]). The returned slice is
// valid until the next call of Encode. It fails only with
// [ErrUnknownMessage].
func (e *Encoder) Encode(m Message) ([]byte, error) {
	e.buf.Reset()
	e.enc.Reset(&e.buf)
	var err error
	switch m := m.(type) {
	case Auth:
		err = encodeAs(&e.enc, m)
	case Dial:
		err = encodeAs(&e.enc, m)
	case Accept:
		err = encodeAs(&e.enc, m)
	case Reject:
		err = encodeAs(&e.enc, m)
	case Candidate:
		err = encodeAs(&e.enc, m)
	case DTMF:
		err = encodeAs(&e.enc, m)
	case Hold:
		err = encodeAs(&e.enc, m)
	case Resume:
		err = encodeAs(&e.enc, m)
	case Hangup:
		err = encodeAs(&e.enc, m)
	case Ping:
		err = encodeAs(&e.enc, m)
	case Authenticated:
		err = encodeAs(&e.enc, m)
	case Answer:
		err = encodeAs(&e.enc, m)
	case Ringing:
		err = encodeAs(&e.enc, m)
	case Progress:
		err = encodeAs(&e.enc, m)
	case Connected:
		err = encodeAs(&e.enc, m)
	case Incoming:
		err = encodeAs(&e.enc, m)
	case DTMFEvent:
		err = encodeAs(&e.enc, m)
	case HangupEvent:
		err = encodeAs(&e.enc, m)
	case ErrorReply:
		err = encodeAs(&e.enc, m)
	case Pong:
		err = encodeAs(&e.enc, m)
	case Held:
		err = encodeAs(&e.enc, m)
	case Resumed:
		err = encodeAs(&e.enc, m)
	case Referred:
		err = encodeAs(&e.enc, m)
	case ICERestart:
		err = encodeAs(&e.enc, m)
	case ICERestarted:
		err = encodeAs(&e.enc, m)
	case Transfer:
		err = encodeAs(&e.enc, m)
	case ICEServers:
		err = encodeAs(&e.enc, m)
	case Extension:
		err = encodeAs(&e.enc, m)
	case Quality:
		err = encodeAs(&e.enc, m)
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnknownMessage, m)
	}
	if err != nil { // unreachable: every message type encodes
		return nil, fmt.Errorf("signaling: encode %s: %w", m.MessageType(), err)
	}

	// The encoder ends each top-level value with a newline.
	return bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'}), nil
}

func encodeAs[M Message](enc *jsontext.Encoder, m M) error {
	return json.MarshalEncode(enc, &frame[M]{Type: m.MessageType(), Body: m})
}
