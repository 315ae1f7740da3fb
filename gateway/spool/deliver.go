package spool

import (
	"context"
	"time"
)

// Backoff bounds the waits between attempts of a failing delivery: the
// first retry after Min, each next one twice as long, at most Max.
type Backoff struct {
	Min, Max time.Duration
}

// Handlers are what Deliver does with a queue's records.
type Handlers struct {
	// Send delivers records, oldest first; an error has the same records
	// sent again after a back-off, before any other.
	Send func(ctx context.Context, records [][]byte) error
	// Failed, when set, is told of each failed Send; first is true for
	// the first failure after a success (to log once per outage).
	Failed func(err error, first bool)
	// Delivered, when set, is told of each successful Send with the number
	// of records; recovered is true after failures.
	Delivered func(n int, recovered bool)
}

// Deliver hands q's records to h.Send in order, up to batch at a time,
// until ctx ends or q is closed: records are acknowledged once Send
// accepted them, and a failure is retried after a back-off (b), so a
// receiver that is down gets every record, in order, once it is back.
func Deliver(ctx context.Context, q *Queue, batch int, b Backoff, h Handlers) {
	wait := time.Duration(0)
	failing := false
	for {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		recs, err := q.Peek(batch)
		if err != nil {
			return
		}
		if len(recs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-q.Ready():
			}

			continue
		}
		if err := h.Send(ctx, recs); err != nil {
			if ctx.Err() != nil {
				return
			}
			if h.Failed != nil {
				h.Failed(err, !failing)
			}
			failing = true
			wait = min(max(2*wait, b.Min), b.Max)

			continue
		}
		if h.Delivered != nil {
			h.Delivered(len(recs), failing)
		}
		failing, wait = false, 0
		if err := q.Ack(len(recs)); err != nil {
			return
		}
	}
}
