package cdr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webtrunk/webtrunk/gateway/spool"
)

// queueSize is how many records wait in memory for the writer; past it a
// record is dropped and counted (only a disk that stopped answering fills
// it: the writer takes every waiting record at once).
const queueSize = 1 << 16

// sinkBatch is how many spooled records a sink is handed at once.
const sinkBatch = 100

// Retry bounds of a failing file or sink: the first retry after
// retryMin, doubling up to retryMax.
const (
	retryMin = 500 * time.Millisecond
	retryMax = 30 * time.Second
)

// sinkTimeout bounds one Write of a sink.
const sinkTimeout = 10 * time.Second

// Sink is a destination of records fed through a spool: it is handed
// the records in the order they ended, a batch at a time, until Write
// succeeds.
type Sink interface {
	// Name names the sink in logs, metrics and the spool's file name.
	Name() string
	// Write stores recs durably, or returns an error and is called again
	// later with the same records first. It must be idempotent per
	// Record.ID: after a crash a batch may be written twice.
	Write(ctx context.Context, recs []Record) error
	// Close releases the sink.
	Close() error
}

// Options configure a Recorder.
type Options struct {
	// File is the JSON Lines file records are appended to, one record per
	// line; none when empty.
	File string
	// Sync makes the writer fsync the file after each batch of records it
	// appended (every record waiting when it woke up), before taking the
	// next; without it the records reach the disk when the operating
	// system writes them back (they survive a crash of the process, not
	// of the machine).
	Sync bool
	// SpoolDir holds one spool file per sink ("SINK.spool"); required when
	// Sinks is not empty.
	SpoolDir string
	// SpoolMaxBytes bounds each sink's spool; a record that does not fit
	// is dropped for that sink (it stays in File) and counted.
	SpoolMaxBytes int64
	// Sinks are the further destinations.
	Sinks []Sink
	// Logger receives the recorder's warnings; nil discards them.
	Logger *slog.Logger
}

// Stats are a Recorder's counters.
type Stats struct {
	// Written counts records appended to the file.
	Written uint64
	// Dropped counts records lost because the in-memory queue was full.
	Dropped uint64
	// FileErrors counts failed writes of the file (each retried).
	FileErrors uint64
}

// SinkStats are one sink's counters.
type SinkStats struct {
	// Name is the sink's name.
	Name string
	// Spooled is the number of records waiting in the sink's spool.
	Spooled int
	// Delivered counts records the sink stored.
	Delivered uint64
	// Errors counts failed writes (each retried).
	Errors uint64
	// Dropped counts records that did not fit in the spool.
	Dropped uint64
}

// Recorder writes call detail records. Record never waits on a disk or a
// sink. Create one with New, run it with Run and stop it with Close.
type Recorder struct {
	o     Options
	log   *slog.Logger
	queue chan Record
	// reopen asks the writer to reopen the file (after a log rotation).
	reopen chan struct{}
	sinks  []*spooledSink

	worker *spool.Worker

	written, dropped, fileErrors atomic.Uint64
}

// spooledSink is a sink with its spool and counters.
type spooledSink struct {
	Sink
	spool                    *spool.Queue
	delivered, errs, dropped atomic.Uint64
}

// New opens the file and the spools of o. It returns the open error of
// either.
func New(o Options) (*Recorder, error) {
	r := &Recorder{
		o: o, log: o.Logger, queue: make(chan Record, queueSize), reopen: make(chan struct{}, 1),
		worker: spool.NewWorker(),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if len(o.Sinks) > 0 && o.SpoolDir == "" {
		return nil, errors.New("cdr: sinks need a spool directory") //nolint:err113 // configuration validation prevents it
	}
	for _, s := range o.Sinks {
		q, err := spool.Open(filepath.Join(o.SpoolDir, s.Name()+".spool"), o.SpoolMaxBytes)
		if err != nil {
			r.closeSpools()

			return nil, fmt.Errorf("cdr: %w", err)
		}
		r.sinks = append(r.sinks, &spooledSink{Sink: s, spool: q})
	}
	if o.File != "" {
		f, err := openFile(o.File)
		if err != nil {
			r.closeSpools()

			return nil, err
		}
		_ = f.Close()
	}

	return r, nil
}

// openFile opens the JSON Lines file for appending, creating it (mode
// 0640).
func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cdr: %w", err)
	}

	return f, nil
}

// Record queues rec for writing. It never blocks: when the queue is full
// (the file has not been writable for a long time) the record is dropped,
// counted in Stats.Dropped and logged.
func (r *Recorder) Record(rec Record) {
	select {
	case r.queue <- rec:
	default:
		r.dropped.Add(1)
		r.log.Error("call record dropped: the record queue is full", "call_id", rec.ID)
	}
}

// Reopen makes the writer close and reopen the file before its next
// write, so that a file moved away by logrotate is followed by a new one.
func (r *Recorder) Reopen() {
	select {
	case r.reopen <- struct{}{}:
	default:
	}
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	return Stats{Written: r.written.Load(), Dropped: r.dropped.Load(), FileErrors: r.fileErrors.Load()}
}

// SinkStats returns each sink's counters, in the order of Options.Sinks.
func (r *Recorder) SinkStats() []SinkStats {
	out := make([]SinkStats, 0, len(r.sinks))
	for _, s := range r.sinks {
		out = append(out, SinkStats{
			Name: s.Name(), Spooled: s.spool.Len(),
			Delivered: s.delivered.Load(), Errors: s.errs.Load(), Dropped: s.dropped.Load(),
		})
	}

	return out
}

// Run writes records until Close, then writes what is still queued and
// returns; the sinks' deliveries stop at Close (their records stay
// spooled for the next start). Run is called once.
func (r *Recorder) Run() {
	if !r.worker.Start() {
		return
	}
	defer r.worker.Stopped()
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for _, s := range r.sinks {
		wg.Go(func() { r.deliver(ctx, s) })
	}
	r.write()
	cancel()
	wg.Wait()
	r.closeSpools()
	for _, s := range r.sinks {
		if err := s.Close(); err != nil {
			r.log.Warn("call record sink close", "sink", s.Name(), "error", err)
		}
	}
}

// Close stops taking records, waits for Run to write those queued, and
// returns; on a Recorder that never ran it closes the spools. Records
// passed to Record afterwards are dropped.
func (r *Recorder) Close() {
	if r.worker.Close() {
		r.closeSpools()
	}
}

// write is the writer loop: it takes every waiting record, appends them
// to the file in one write (and fsync with Options.Sync), then pushes
// them to each sink's spool.
func (r *Recorder) write() {
	var f *os.File
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	var batch []Record
	var buf []byte
	stopping := false
	for {
		if len(batch) == 0 {
			if stopping {
				return
			}
			select {
			case rec := <-r.queue:
				batch = append(batch, rec)
			case <-r.reopen:
				if f != nil {
					_ = f.Close()
					f = nil
				}

				continue
			case <-r.worker.Closing():
				stopping = true
			}
		}
	drain:
		for {
			select {
			case rec := <-r.queue:
				batch = append(batch, rec)
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			continue
		}
		buf = buf[:0]
		for i := range batch {
			b, err := json.Marshal(&batch[i])
			if err != nil { // unreachable: a Record always marshals
				r.log.Error("call record", "call_id", batch[i].ID, "error", err)

				continue
			}
			buf = append(append(buf, b...), '\n')
		}
		if r.o.File != "" {
			var err error
			if f, err = r.appendFile(f, buf); err != nil {
				if stopping {
					r.log.Error("call records not written at shutdown", "records", len(batch), "error", err)

					return
				}
				select {
				case <-time.After(retryMin):
				case <-r.worker.Closing():
					stopping = true
				}

				continue
			}
			r.written.Add(uint64(len(batch)))
		}
		r.spoolBatch(batch, buf)
		batch = batch[:0]
	}
}

// appendFile writes buf to the file (opening it when f is nil) and syncs
// it when asked to; it returns the file to use next time (nil after an
// error, so that the next attempt reopens it).
func (r *Recorder) appendFile(f *os.File, buf []byte) (*os.File, error) {
	if f == nil {
		var err error
		if f, err = openFile(r.o.File); err != nil {
			r.fileErrors.Add(1)
			r.log.Error("call record file", "error", err)

			return nil, err
		}
	}
	_, err := f.Write(buf)
	if err == nil && r.o.Sync {
		err = f.Sync()
	}
	if err != nil {
		r.fileErrors.Add(1)
		r.log.Error("call record file", "file", r.o.File, "error", err)
		_ = f.Close()

		return nil, fmt.Errorf("cdr: %w", err)
	}

	return f, nil
}

// spoolBatch pushes the batch's lines (buf, one per record) to each
// sink's spool.
func (r *Recorder) spoolBatch(batch []Record, buf []byte) {
	if len(r.sinks) == 0 {
		return
	}
	lines := make([][]byte, 0, len(batch))
	for len(buf) > 0 {
		i := 0
		for buf[i] != '\n' {
			i++
		}
		lines = append(lines, buf[:i])
		buf = buf[i+1:]
	}
	for _, s := range r.sinks {
		for i, line := range lines {
			if err := s.spool.Push(line); err != nil {
				s.dropped.Add(1)
				r.log.Error("call record not spooled for its sink", "sink", s.Name(), "call_id", batch[min(i, len(batch)-1)].ID, "error", err)
			}
		}
	}
}

// deliver hands a sink its spooled records in order until ctx ends,
// retrying failed writes with a back-off.
func (r *Recorder) deliver(ctx context.Context, s *spooledSink) {
	spool.Deliver(ctx, s.spool, sinkBatch, spool.Backoff{Min: retryMin, Max: retryMax}, spool.Handlers{
		Send: func(ctx context.Context, lines [][]byte) error {
			recs := make([]Record, 0, len(lines))
			for _, l := range lines {
				var rec Record
				if err := json.Unmarshal(l, &rec); err != nil {
					r.log.Error("spooled call record unreadable, skipped", "sink", s.Name(), "error", err)

					continue
				}
				recs = append(recs, rec)
			}
			wctx, cancel := context.WithTimeout(ctx, sinkTimeout)
			defer cancel()

			return s.Write(wctx, recs)
		},
		Failed: func(err error, first bool) {
			s.errs.Add(1)
			if first {
				r.log.Warn("call record sink failing, records stay spooled", "sink", s.Name(), "spooled", s.spool.Len(), "error", err)
			}
		},
		Delivered: func(n int, recovered bool) {
			s.delivered.Add(uint64(n)) //nolint:gosec // a batch size
			if recovered {
				r.log.Info("call record sink recovered", "sink", s.Name())
			}
		},
	})
}

// closeSpools closes the sinks' spool files.
func (r *Recorder) closeSpools() {
	for _, s := range r.sinks {
		_ = s.spool.Close()
	}
}
