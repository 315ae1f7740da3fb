package signaling

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// chunked returns its data a few bytes at a time, like a network reader.
type chunked struct {
	data []byte
	step int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(c.step, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]

	return n, nil
}

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr error
	}{
		{"empty", 0, nil},
		{"small", 100, nil},
		{"at limit", MaxFrameSize, nil},
		{"one over", MaxFrameSize + 1, ErrFrameTooLarge},
		{"huge but skippable", MaxSkipSize, ErrFrameTooLarge},
		{"flood", MaxSkipSize + 1, ErrFrameFlood},
	}
	var buf bytes.Buffer
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := bytes.Repeat([]byte{'a'}, tt.size)
			r := &chunked{data: data, step: 4000}
			got, err := ReadFrame(r, &buf)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadFrame error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !bytes.Equal(got, data) {
				t.Fatalf("ReadFrame returned %d bytes, want %d", len(got), len(data))
			}
			if errors.Is(tt.wantErr, ErrFrameTooLarge) && len(r.data) != 0 {
				t.Fatalf("%d bytes of the oversized frame left unread", len(r.data))
			}
			if buf.Cap() > 2*MaxFrameSize+1024 {
				t.Fatalf("buffer grew to %d bytes", buf.Cap())
			}
		})
	}
}

func TestReadFrameReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader(`{"type":`), &failing{err: boom})
	var buf bytes.Buffer
	if _, err := ReadFrame(r, &buf); !errors.Is(err, boom) {
		t.Fatalf("ReadFrame error = %v, want %v", err, boom)
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

func TestFrameTooLargeReply(t *testing.T) {
	r := FrameTooLargeReply()
	if r.Code != CodeBadRequest || !strings.Contains(r.Message, "65536") {
		t.Fatalf("FrameTooLargeReply = %+v", r)
	}
}
