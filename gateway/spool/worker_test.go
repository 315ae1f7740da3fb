package spool

import (
	"testing"
	"time"
)

// TestWorkerRunsOnceAndCloseWaits: the first Start runs and a second does
// not; Close closes Closing and returns only after the run has stopped;
// a Worker closed before it started never runs and says so.
func TestWorkerRunsOnceAndCloseWaits(t *testing.T) {
	w := NewWorker()
	if !w.Start() {
		t.Fatal("first Start refused")
	}
	if w.Start() {
		t.Fatal("second Start accepted")
	}
	stopped := make(chan struct{})
	go func() {
		<-w.Closing()
		close(stopped)
		w.Stopped()
	}()
	if w.Close() {
		t.Error("Close of a started worker reports that it never ran")
	}
	select {
	case <-stopped:
	default:
		t.Error("Close returned before the run stopped")
	}

	idle := NewWorker()
	if !idle.Close() {
		t.Error("Close of an idle worker does not report that it never ran")
	}
	if idle.Start() {
		t.Error("Start accepted after Close")
	}
	select {
	case <-idle.Closing():
	default:
		t.Error("Closing still open after Close")
	}
	again := make(chan bool)
	go func() { again <- idle.Close() }()
	select {
	case neverRan := <-again:
		if neverRan {
			t.Error("a second Close of an idle worker reports it never ran again")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second Close of an idle worker blocks")
	}
}
