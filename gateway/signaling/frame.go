package signaling

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// MaxSkipSize is the largest message [ReadFrame] reads to its end and
// discards, leaving the connection usable; a longer one is abandoned.
const MaxSkipSize = 1 << 20

// Errors of [ReadFrame].
var (
	// ErrFrameTooLarge: the message was longer than MaxFrameSize and was
	// discarded; the connection can go on (answer with [FrameTooLargeReply]).
	ErrFrameTooLarge = errors.New("signaling: frame longer than " + strconv.Itoa(MaxFrameSize) + " bytes")
	// ErrFrameFlood: the message was longer than MaxSkipSize and was not
	// read to its end; the connection must be closed (WebSocket status 1009,
	// RFC 6455 section 7.4.1).
	ErrFrameFlood = errors.New("signaling: frame longer than " + strconv.Itoa(MaxSkipSize) + " bytes")
)

// ReadFrame reads one WebSocket message body from r (for example the
// reader of github.com/coder/websocket's Conn.Reader) into buf, which it
// resets first, and returns the bytes read; they alias buf. A message longer
// than [MaxFrameSize] is read on and dropped, and ReadFrame returns
// [ErrFrameTooLarge], so one oversized frame costs the client an error reply,
// not its connection and calls. A message longer than [MaxSkipSize] yields
// [ErrFrameFlood]. Errors of r are returned as they are.
func ReadFrame(r io.Reader, buf *bytes.Buffer) ([]byte, error) {
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(r, MaxFrameSize+1))
	if err != nil {
		return nil, err
	}
	if n <= MaxFrameSize {
		return buf.Bytes(), nil
	}
	buf.Reset()
	skipped, err := io.Copy(io.Discard, io.LimitReader(r, MaxSkipSize-n+1))
	if err != nil {
		return nil, err
	}
	if n+skipped > MaxSkipSize {
		return nil, ErrFrameFlood
	}

	return nil, ErrFrameTooLarge
}

// FrameTooLargeReply is the error message that answers a frame dropped by
// [ReadFrame] with [ErrFrameTooLarge].
func FrameTooLargeReply() ErrorReply {
	return ErrorReply{Code: CodeBadRequest, Message: "frame longer than " + strconv.Itoa(MaxFrameSize) + " bytes"}
}
