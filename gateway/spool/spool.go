// Package spool is a durable first-in first-out queue of records on disk:
// what the gateway still has to hand to a slow or unreachable receiver
// (a call record database, a webhook URL) survives a restart of the
// process, in order, within a bound of bytes.
//
// A Queue is one append-only file of records, each a line of bytes without
// a newline, and a small file beside it ("FILE.head") holding the byte
// offset of the first record not yet acknowledged. Push appends; Peek
// reads from the head without removing; Ack moves the head past records
// that were delivered. When everything is acknowledged the file is
// truncated, and when the acknowledged part outgrows the rest it is
// rewritten without it, so the file stays near the size of what is
// queued. Writes are not synced: the queue survives the process, not a
// power failure of the machine.
package spool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
)

// Errors of a Queue.
var (
	// ErrFull is returned by Push when the record would take the queue
	// past its bound of bytes; the record is not queued.
	ErrFull = errors.New("spool: queue full")
	// ErrClosed is returned by operations on a closed Queue.
	ErrClosed = errors.New("spool: closed")
	// ErrNewline is returned by Push for a record containing a newline.
	ErrNewline = errors.New("spool: record contains a newline")
)

// compactAt is the size in bytes of acknowledged records past which the
// file is rewritten without them, when they also outweigh the records
// still queued.
const compactAt = 1 << 20

// Queue is a durable FIFO of records. It is safe for concurrent use; one
// consumer at a time should Peek and Ack.
type Queue struct {
	path     string
	maxBytes int64

	mu     sync.Mutex
	f      *os.File
	head   int64   // offset of the first queued record
	tail   int64   // size of the file
	sizes  []int64 // lengths of the queued records, newline included
	ready  chan struct{}
	closed bool
}

// Open opens the queue stored at path (creating it, mode 0600), holding
// at most maxBytes bytes of queued records (newlines included; 0 or less:
// unbounded). Records queued by an earlier process are queued again; a
// partial last record (a crash during Push) is dropped.
func Open(path string, maxBytes int64) (*Queue, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	q := &Queue{path: path, maxBytes: maxBytes, f: f, ready: make(chan struct{}, 1)}
	if err := q.load(); err != nil {
		_ = f.Close()

		return nil, err
	}
	if len(q.sizes) > 0 {
		q.ready <- struct{}{}
	}

	return q, nil
}

// load reads the head offset and the lengths of the queued records.
func (q *Queue) load() error {
	if b, err := os.ReadFile(q.headPath()); err == nil {
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && n >= 0 {
			q.head = n
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	st, err := q.f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if q.head > st.Size() {
		q.head = st.Size()
	}
	r := bufio.NewReader(io.NewSectionReader(q.f, q.head, st.Size()-q.head))
	end := q.head
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			n := int64(len(line))
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				n += int64(len(line))
			}
			if err == nil {
				q.sizes = append(q.sizes, n)
				end += n
			}

			continue
		}
		if err != nil {
			break
		}
		q.sizes = append(q.sizes, int64(len(line)))
		end += int64(len(line))
	}
	if end != st.Size() {
		if err := q.f.Truncate(end); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	q.tail = end

	return nil
}

func (q *Queue) headPath() string { return q.path + ".head" }

// Push appends rec (bytes without a newline) to the queue. It returns
// ErrFull when the queue would exceed its bound, ErrNewline, ErrClosed,
// or the file's write error.
func (q *Queue) Push(rec []byte) error {
	if bytes.IndexByte(rec, '\n') >= 0 {
		return ErrNewline
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	n := int64(len(rec)) + 1
	if q.maxBytes > 0 && q.tail-q.head+n > q.maxBytes {
		return ErrFull
	}
	buf := make([]byte, 0, n)
	buf = append(append(buf, rec...), '\n')
	if _, err := q.f.WriteAt(buf, q.tail); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	q.tail += n
	q.sizes = append(q.sizes, n)
	select {
	case q.ready <- struct{}{}:
	default:
	}

	return nil
}

// Peek returns up to max records from the head of the queue, oldest
// first, without removing them; none when the queue is empty.
func (q *Queue) Peek(maxRecords int) ([][]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	k := min(maxRecords, len(q.sizes))
	if k <= 0 {
		return nil, nil
	}
	var total int64
	for _, s := range q.sizes[:k] {
		total += s
	}
	buf := make([]byte, total)
	if _, err := q.f.ReadAt(buf, q.head); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	out := make([][]byte, 0, k)
	for _, s := range q.sizes[:k] {
		out = append(out, buf[:s-1:s-1])
		buf = buf[s:]
	}

	return out, nil
}

// Ack removes the n oldest records (those a Peek returned and that were
// delivered) and records the new head on disk.
func (q *Queue) Ack(n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	n = min(n, len(q.sizes))
	for _, s := range q.sizes[:n] {
		q.head += s
	}
	q.sizes = q.sizes[n:]
	switch {
	case len(q.sizes) == 0:
		if err := q.f.Truncate(0); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		q.head, q.tail = 0, 0
	case q.head > compactAt && q.head > q.tail-q.head:
		if err := q.compactLocked(); err != nil {
			return err
		}
	}

	return q.writeHeadLocked()
}

// writeHeadLocked stores the head offset.
func (q *Queue) writeHeadLocked() error {
	if err := os.WriteFile(q.headPath(), []byte(strconv.FormatInt(q.head, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}

	return nil
}

// compactLocked rewrites the file without its acknowledged records: a
// new file renamed over the old one, then the head reset to 0.
func (q *Queue) compactLocked() error {
	tmp := q.path + ".tmp"
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := io.Copy(nf, io.NewSectionReader(q.f, q.head, q.tail-q.head)); err != nil {
		_ = nf.Close()

		return fmt.Errorf("spool: %w", err)
	}
	// The head file is reset first: a crash between the two steps queues
	// acknowledged records again (delivered twice) rather than losing any.
	q.head, q.tail = 0, q.tail-q.head
	if err := q.writeHeadLocked(); err != nil {
		_ = nf.Close()

		return err
	}
	if err := os.Rename(tmp, q.path); err != nil {
		_ = nf.Close()

		return fmt.Errorf("spool: %w", err)
	}
	_ = q.f.Close()
	q.f = nf

	return nil
}

// Len returns the number of queued records.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()

	return len(q.sizes)
}

// Ready is signalled (one pending signal at most) when a record is
// pushed, and at Open when records are queued.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Close closes the file; the queued records stay on disk for the next
// Open. Further calls do nothing.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	if err := q.f.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}

	return nil
}
