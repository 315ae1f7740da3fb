// Package webhook tells an operator's backend what happens to calls: each
// event is a JSON body POSTed to every receiver that wants it, signed with
// HMAC-SHA256 over the timestamp and the body, delivered in order per
// receiver from a durable on-disk queue (gateway/spool) and retried with
// a growing back-off, so that a receiver that is slow, failing or down
// delays no call and, once back, gets what it missed in order. It also
// asks a backend whether an outbound dial may go ahead (Authorizer).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webtrunk/webtrunk/gateway/spool"
)

// Header names of a delivery.
const (
	// SignatureHeader carries "t=UNIX,v1=HEX": the Unix time of the
	// attempt and the hex HMAC-SHA256, keyed with the shared secret, of
	// the time, a period and the body (Sign).
	SignatureHeader = "Webtrunk-Signature"
	// EventIDHeader and EventTypeHeader repeat the event's id and type.
	EventIDHeader   = "Webtrunk-Event-Id"
	EventTypeHeader = "Webtrunk-Event-Type"
)

// Event types.
const (
	CallRinging       = "call.ringing"
	CallAnswered      = "call.answered"
	CallEnded         = "call.ended"
	DialDenied        = "dial.denied"
	TrunkRegistration = "trunk.registration"
)

// Types lists every event type.
func Types() []string {
	return []string{CallRinging, CallAnswered, CallEnded, DialDenied, TrunkRegistration}
}

// Retry bounds of a failing receiver: first retry after retryMin,
// doubling up to retryMax.
const (
	retryMin = 500 * time.Millisecond
	retryMax = time.Minute
)

// queueSize is how many events wait in memory for the spool writer; past
// it an event is dropped and counted.
const queueSize = 4096

// NewClient returns an HTTP client with a transport of its own (not
// shared with the rest of the process), whose idle connections its owner
// closes when it stops.
func NewClient() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Client{}
	}

	return &http.Client{Transport: t.Clone()}
}

// Sign returns the signature header value of body sent at t with secret:
// "t=UNIX,v1=" and the hex HMAC-SHA256 of "UNIX.body".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)

	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// mac is the HMAC-SHA256 of "ts.body".
func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)

	return m.Sum(nil)
}

// ErrBadSignature is returned by Verify.
var ErrBadSignature = errors.New("webhook: bad signature")

// Verify checks a signature header value against body and secret, and
// that its time is within tolerance of now (replays of old deliveries
// are refused). Receivers written in Go may use it.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: time off by %v", ErrBadSignature, d)
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, ts, body)) {
		return ErrBadSignature
	}

	return nil
}

// Event is one event as delivered: its id, type and time, and the
// payload of its type.
type Event struct {
	// ID is unique per event; a receiver may see an event twice (after a
	// restart) and should key on it.
	ID string `json:"id"`
	// Type is one of Types.
	Type string `json:"type"`
	// Time is when it happened, RFC 3339 UTC with milliseconds.
	Time string `json:"time"`
	// Data is the payload: a call's facts, its record, or a trunk's
	// registration (docs/webhooks.md).
	Data any `json:"data"`
}

// Receiver is one configured receiver.
type Receiver struct {
	// Name labels the receiver in logs, metrics and its queue file.
	Name string
	// URL receives the POSTs.
	URL string
	// Events are the types it wants; empty: all.
	Events []string
}

// Options configure a Sender.
type Options struct {
	Receivers []Receiver
	// Secret keys the signatures.
	Secret []byte
	// SpoolDir holds one queue file per receiver ("NAME.queue").
	SpoolDir string
	// SpoolMaxBytes bounds each queue; an event that does not fit is
	// dropped for that receiver and counted.
	SpoolMaxBytes int64
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// Client sends the requests; nil: NewClient.
	Client *http.Client
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// Stats are one receiver's counters.
type Stats struct {
	Name      string
	Queued    int
	Delivered uint64
	Failed    uint64
	Dropped   uint64
}

// Sender delivers events. Publish never waits on a receiver.
type Sender struct {
	o         Options
	log       *slog.Logger
	client    *http.Client
	receivers []*receiver
	in        chan Event
	dropped   atomic.Uint64

	worker *spool.Worker
}

// receiver is a receiver with its queue and counters.
type receiver struct {
	Receiver
	wants                      map[string]bool
	queue                      *spool.Queue
	delivered, failed, dropped atomic.Uint64
}

// New opens the receivers' queues (events queued by an earlier process
// are delivered first).
func New(o Options) (*Sender, error) {
	s := &Sender{o: o, log: o.Logger, client: o.Client, in: make(chan Event, queueSize),
		worker: spool.NewWorker()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = NewClient()
	}
	for _, r := range o.Receivers {
		q, err := spool.Open(filepath.Join(o.SpoolDir, r.Name+".queue"), o.SpoolMaxBytes)
		if err != nil {
			s.closeQueues()

			return nil, fmt.Errorf("webhook: %w", err)
		}
		rc := &receiver{Receiver: r, queue: q}
		if len(r.Events) > 0 {
			rc.wants = map[string]bool{}
			for _, t := range r.Events {
				rc.wants[t] = true
			}
		}
		s.receivers = append(s.receivers, rc)
	}

	return s, nil
}

// Publish queues ev for every receiver that wants its type. It never
// blocks: with the in-memory queue full the event is dropped and counted.
func (s *Sender) Publish(ev Event) {
	select {
	case s.in <- ev:
	default:
		s.dropped.Add(1)
		s.log.Error("webhook event dropped: the event queue is full", "type", ev.Type, "id", ev.ID)
	}
}

// Stats returns each receiver's counters, in configuration order.
func (s *Sender) Stats() []Stats {
	out := make([]Stats, 0, len(s.receivers))
	for _, r := range s.receivers {
		out = append(out, Stats{Name: r.Name, Queued: r.queue.Len(), Delivered: r.delivered.Load(),
			Failed: r.failed.Load(), Dropped: r.dropped.Load() + s.dropped.Load()})
	}

	return out
}

// Run writes published events to the receivers' queues and delivers
// them until Close; then it queues what was published and returns, the
// undelivered events staying on disk for the next start.
func (s *Sender) Run() {
	if !s.worker.Start() {
		return
	}
	defer s.worker.Stopped()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range s.receivers {
		wg.Go(func() { s.deliver(ctx, r) })
	}
run:
	for {
		select {
		case ev := <-s.in:
			s.enqueue(ev)
		case <-s.worker.Closing():
			break run
		}
	}
	for len(s.in) > 0 {
		s.enqueue(<-s.in)
	}
	cancel()
	wg.Wait()
	s.closeQueues()
	s.client.CloseIdleConnections()
}

// Close stops the Sender and waits for Run to return; on a Sender that
// never ran it closes the queues.
func (s *Sender) Close() {
	if s.worker.Close() {
		s.closeQueues()
	}
}

func (s *Sender) closeQueues() {
	for _, r := range s.receivers {
		_ = r.queue.Close()
	}
}

// enqueue appends ev to the queue of each receiver that wants it.
func (s *Sender) enqueue(ev Event) {
	body, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("webhook event", "type", ev.Type, "error", err)

		return
	}
	for _, r := range s.receivers {
		if r.wants != nil && !r.wants[ev.Type] {
			continue
		}
		if err := r.queue.Push(body); err != nil {
			r.dropped.Add(1)
			s.log.Error("webhook event not queued", "receiver", r.Name, "type", ev.Type, "id", ev.ID, "error", err)
		}
	}
}

// deliver posts a receiver's queued events one at a time, in order, until
// ctx ends; a failure is retried with a back-off before the next event.
func (s *Sender) deliver(ctx context.Context, r *receiver) {
	spool.Deliver(ctx, r.queue, 1, spool.Backoff{Min: retryMin, Max: retryMax}, spool.Handlers{
		Send: func(ctx context.Context, recs [][]byte) error { return s.post(ctx, r, recs[0]) },
		Failed: func(err error, first bool) {
			r.failed.Add(1)
			if first {
				s.log.Warn("webhook receiver failing, events stay queued", "receiver", r.Name, "queued", r.queue.Len(), "error", err)
			}
		},
		Delivered: func(n int, recovered bool) {
			r.delivered.Add(uint64(n)) //nolint:gosec // one event
			if recovered {
				s.log.Info("webhook receiver recovered", "receiver", r.Name)
			}
		},
	})
}

// errStatus is a delivery answered with a status other than 2xx.
var errStatus = errors.New("webhook: receiver answered")

// post sends one event body to r; any 2xx is a delivery.
func (s *Sender) post(ctx context.Context, r *receiver, body []byte) error {
	var head struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &head)
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Webtrunk")
	req.Header.Set(SignatureHeader, Sign(s.o.Secret, time.Now(), body))
	req.Header.Set(EventIDHeader, head.ID)
	req.Header.Set(EventTypeHeader, head.Type)
	res, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%w %d", errStatus, res.StatusCode)
	}

	return nil
}
