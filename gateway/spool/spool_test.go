package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// open opens a queue at path, closed at cleanup.
func open(t *testing.T, path string, maxBytes int64) *Queue {
	t.Helper()
	q, err := Open(path, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })

	return q
}

// peekAll returns every queued record as strings.
func peekAll(t *testing.T, q *Queue) []string {
	t.Helper()
	recs, err := q.Peek(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r)
	}

	return out
}

// TestQueueOrderAndRestart: records come out in the order pushed, an
// acknowledged record is gone, and what is left survives a reopen, with a
// partial last line (a crash during Push) dropped.
func TestQueueOrderAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	q := open(t, path, 0)
	for i := range 5 {
		if err := q.Push(fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-q.Ready():
	default:
		t.Error("no ready signal after Push")
	}
	got, err := q.Peek(2)
	if err != nil || len(got) != 2 || string(got[0]) != `{"n":0}` || string(got[1]) != `{"n":1}` {
		t.Fatalf("Peek(2) = %q, %v", got, err)
	}
	if err := q.Ack(2); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"n":99`) // cut short
	_ = f.Close()

	q2 := open(t, path, 0)
	if got, want := strings.Join(peekAll(t, q2), " "), `{"n":2} {"n":3} {"n":4}`; got != want {
		t.Errorf("after reopen %q, want %q", got, want)
	}
	select {
	case <-q2.Ready():
	default:
		t.Error("no ready signal at Open with records queued")
	}
	if err := q2.Push([]byte("next")); err != nil {
		t.Fatal(err)
	}
	if got := peekAll(t, q2); len(got) != 4 || got[3] != "next" {
		t.Errorf("after Push %q", got)
	}
	if err := q2.Ack(4); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 0 || q2.Len() != 0 {
		t.Errorf("empty queue: size %v, len %d, %v", st.Size(), q2.Len(), err)
	}
}

// TestQueueBounds: a record past the bound is refused with ErrFull and
// fits again once the head was acknowledged; newlines are refused.
func TestQueueBounds(t *testing.T) {
	q := open(t, filepath.Join(t.TempDir(), "q"), 10)
	tests := []struct {
		rec  string
		want error
	}{
		{"abcd", nil},        // 5 bytes
		{"efgh", nil},        // 10
		{"i", ErrFull},       // 12 > 10
		{"a\nb", ErrNewline}, // never
	}
	for _, tc := range tests {
		if err := q.Push([]byte(tc.rec)); !errors.Is(err, tc.want) {
			t.Errorf("Push(%q) = %v, want %v", tc.rec, err, tc.want)
		}
	}
	if err := q.Ack(1); err != nil {
		t.Fatal(err)
	}
	if err := q.Push([]byte("i")); err != nil {
		t.Errorf("Push after Ack: %v", err)
	}
	_ = q.Close()
	if err := q.Push([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Push after Close = %v", err)
	}
}

// TestQueueCompacts: a consumer that never empties the queue still keeps
// the file near the size of what is queued.
func TestQueueCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q")
	q := open(t, path, 0)
	rec := []byte(strings.Repeat("x", 1000))
	if err := q.Push(rec); err != nil {
		t.Fatal(err)
	}
	for range 3000 {
		if err := q.Push(rec); err != nil {
			t.Fatal(err)
		}
		if err := q.Ack(1); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 2*compactAt {
		t.Errorf("file is %d bytes for one queued record", st.Size())
	}
	if got := peekAll(t, q); len(got) != 1 || got[0] != string(rec) {
		t.Errorf("queued %d records", len(got))
	}
	_ = q.Close()
	if got := peekAll(t, open(t, path, 0)); len(got) != 1 {
		t.Errorf("after reopen %d records, want 1", len(got))
	}
}
