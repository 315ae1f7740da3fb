// Package gobrowser plays a browser tab against the gateway, in Go: a
// client of the WebSocket signaling protocol (docs/protocol.md), and pion
// PeerConnections on IPv4 loopback (package loopbackrtc) that send a tone
// as a microphone would, send RFC 4733 digits as RTCDTMFSender does,
// decode what they receive into a record the test waits on packet by
// packet (package ear), and note where the received stream jumped.
// Everything is torn down by t.Cleanup, and no goroutine outlives the
// test. It is imported only by tests.
package gobrowser

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/loopbackrtc"
)

// NewPeerConnection returns a plain pion PeerConnection of the API o
// describes, closed at the end of the test: the far end of a test that
// drives WebRTC itself.
func NewPeerConnection(tb testing.TB, o loopbackrtc.Options) *webrtc.PeerConnection {
	tb.Helper()
	api, err := loopbackrtc.NewAPI(o)
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatalf("peer connection: %v", err)
	}
	tb.Cleanup(func() { _ = pc.GracefulClose() })

	return pc
}

// CompleteOffer creates pc's offer and returns it once every ICE candidate
// is in it, as a page that does not trickle hands it on.
func CompleteOffer(tb testing.TB, pc *webrtc.PeerConnection) webrtc.SessionDescription {
	tb.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatalf("create offer: %v", err)
	}

	return setComplete(tb, pc, o)
}

// setComplete sets d as pc's local description and returns it once every
// ICE candidate is in it.
func setComplete(tb testing.TB, pc *webrtc.PeerConnection, d webrtc.SessionDescription) webrtc.SessionDescription {
	tb.Helper()
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		tb.Fatalf("set local description (%s): %v", d.Type, err)
	}
	waitClosed(tb, gathered, "ICE gathering")

	return *pc.LocalDescription()
}

// CompleteAnswer sets offer on pc, adds track (when not nil) and returns
// pc's answer once every ICE candidate is in it.
func CompleteAnswer(tb testing.TB, pc *webrtc.PeerConnection, offer webrtc.SessionDescription, track webrtc.TrackLocal) webrtc.SessionDescription {
	tb.Helper()
	if err := pc.SetRemoteDescription(offer); err != nil {
		tb.Fatalf("set remote description (offer): %v", err)
	}
	if track != nil {
		if _, err := pc.AddTrack(track); err != nil {
			tb.Fatalf("add track: %v", err)
		}
	}
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		tb.Fatalf("create answer: %v", err)
	}

	return setComplete(tb, pc, a)
}

// waitClosed waits until ch is closed, failing tb after ear.WaitTimeout.
func waitClosed(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(ear.WaitTimeout):
		tb.Fatalf("no %s within %v", what, ear.WaitTimeout)
	}
}

// States follows a PeerConnection's connection state (it takes pc's one
// OnConnectionStateChange callback).
type States struct {
	pc                                          *webrtc.PeerConnection
	connected, disconnected, failed             chan struct{}
	connectedOnce, disconnectedOnce, failedOnce sync.Once
}

// Watch starts following pc's connection state.
func Watch(pc *webrtc.PeerConnection) *States {
	s := &States{pc: pc, connected: make(chan struct{}), disconnected: make(chan struct{}), failed: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st { //nolint:exhaustive // the others change nothing
		case webrtc.PeerConnectionStateConnected:
			s.connectedOnce.Do(func() { close(s.connected) })
		case webrtc.PeerConnectionStateDisconnected:
			s.disconnectedOnce.Do(func() { close(s.disconnected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.failedOnce.Do(func() { close(s.failed) })
		}
	})

	return s
}

// Connected is closed once ICE and DTLS have completed.
func (s *States) Connected() <-chan struct{} { return s.connected }

// WaitConnected waits until ICE and DTLS have completed, failing tb when
// the connection fails first or after ear.WaitTimeout.
func (s *States) WaitConnected(tb testing.TB) {
	tb.Helper()
	select {
	case <-s.connected:
	case <-s.failed:
		tb.Fatalf("peer connection failed (state %s)", s.pc.ConnectionState())
	case <-time.After(ear.WaitTimeout):
		tb.Fatalf("peer connection not connected within %v (state %s)", ear.WaitTimeout, s.pc.ConnectionState())
	}
}

// WaitGone waits until the other side has gone (DTLS close_notify, ICE
// loss or a local close: disconnected, failed or closed), failing tb after
// 40 s, longer than ICE's disconnect timeout.
func (s *States) WaitGone(tb testing.TB) {
	tb.Helper()
	select {
	case <-s.failed:
	case <-s.disconnected:
	case <-time.After(40 * time.Second):
		tb.Fatalf("peer connection still %s", s.pc.ConnectionState())
	}
}
