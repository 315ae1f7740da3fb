package spool

import (
	"sync"
	"sync/atomic"
)

// Worker is the life of the goroutine that feeds and drains a set of
// queues (the call record writer, the webhook sender): it runs at most
// once, and Close stops it and waits for it, or, when it never ran, tells
// the owner to close the queues itself. Create it with NewWorker.
type Worker struct {
	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
	started   atomic.Bool
}

// NewWorker returns a Worker that has neither started nor closed.
func NewWorker() *Worker {
	return &Worker{closing: make(chan struct{}), done: make(chan struct{})}
}

// Start reports whether the caller is the worker's one run: false after
// an earlier Start or a Close. A run that started calls Stopped when it
// returns.
func (w *Worker) Start() bool { return w.started.CompareAndSwap(false, true) }

// Stopped marks the run as returned, releasing Close.
func (w *Worker) Stopped() { close(w.done) }

// Closing is closed by Close: the run's signal to finish.
func (w *Worker) Closing() <-chan struct{} { return w.closing }

// Close closes Closing and waits until the run has returned. It reports
// true, to the first Close only, when no run had started (none can start
// any more): the owner then releases what the run would have. Closing
// again returns at once.
func (w *Worker) Close() (neverRan bool) {
	w.closeOnce.Do(func() { close(w.closing) })
	if w.started.CompareAndSwap(false, true) {
		close(w.done) // no run will: later Closes do not wait

		return true
	}
	<-w.done

	return false
}
