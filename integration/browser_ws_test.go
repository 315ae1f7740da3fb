package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// wsClient is the signaling half of the fake browser: one WebSocket to the
// gateway's /ws speaking protocol version 1 (docs/protocol.md). A reader
// goroutine decodes every server frame into an inbox from which tests take
// the messages they expect, in any order across calls.
type wsClient struct {
	conn *websocket.Conn

	mu      sync.Mutex
	inbox   []signaling.Message
	seen    chan struct{} // closed and replaced on each message
	readErr error         // why the reader stopped, once done is closed
	done    chan struct{}
}

// dialWS opens a WebSocket to url (ws://host:port/ws). The connection is
// closed by t.Cleanup.
func dialWS(t *testing.T, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, url, nil)
	if res != nil && res.Body != nil {
		_ = res.Body.Close()
	}
	if err != nil {
		t.Fatalf("websocket %s: %v", url, err)
	}
	conn.SetReadLimit(4 * signaling.MaxFrameSize)
	c := &wsClient{conn: conn, seen: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	t.Cleanup(c.close)

	return c
}

// read decodes server frames until the connection ends.
func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err == nil {
			var m signaling.Message
			m, err = signaling.DecodeServer(data)
			if err != nil {
				err = fmt.Errorf("undecodable server frame %q: %w", data, err)
			}
			if err == nil {
				c.mu.Lock()
				c.inbox = append(c.inbox, m)
				close(c.seen)
				c.seen = make(chan struct{})
				c.mu.Unlock()
				continue
			}
		}
		c.mu.Lock()
		c.readErr = err
		close(c.seen)
		c.seen = make(chan struct{})
		c.mu.Unlock()
		_ = c.conn.CloseNow()
		return
	}
}

// close closes the WebSocket at once and waits for the reader.
func (c *wsClient) close() {
	_ = c.conn.CloseNow()
	<-c.done
}

// send writes one protocol message.
func (c *wsClient) send(t *testing.T, m signaling.Message) {
	t.Helper()
	data, err := signaling.Marshal(m)
	if err != nil {
		t.Fatalf("marshal %T: %v", m, err)
	}
	c.sendRaw(t, data)
}

// sendRaw writes one text frame as it is.
func (c *wsClient) sendRaw(t *testing.T, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
		t.Fatalf("websocket write: %v", err)
	}
}

// expect takes the first message of the inbox for which match is true,
// waiting up to timeout; it fails the test with what arrived instead.
func (c *wsClient) expect(t *testing.T, timeout time.Duration, what string, match func(signaling.Message) bool) signaling.Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i, m := range c.inbox {
			if match(m) {
				c.inbox = append(c.inbox[:i:i], c.inbox[i+1:]...)
				c.mu.Unlock()
				return m
			}
		}
		seen, readErr := c.seen, c.readErr
		pending := describe(c.inbox)
		c.mu.Unlock()
		if readErr != nil {
			t.Fatalf("browser waiting for %s: connection ended (%v); unmatched messages: %s", what, readErr, pending)
		}
		select {
		case <-seen:
		case <-deadline.C:
			t.Fatalf("browser: no %s within %v; unmatched messages: %s", what, timeout, pending)
		}
	}
}

// none fails the test if a message matching match arrives within d.
func (c *wsClient) none(t *testing.T, d time.Duration, what string, match func(signaling.Message) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for _, m := range c.inbox {
			if match(m) {
				c.mu.Unlock()
				t.Fatalf("browser got %s: %s", what, describe([]signaling.Message{m}))
			}
		}
		seen := c.seen
		c.mu.Unlock()
		select {
		case <-seen:
		case <-deadline.C:
			return
		}
	}
}

// waitClosed waits until the server closed the connection and returns the
// WebSocket close status it gave (-1 when none) and the reader's error.
func (c *wsClient) waitClosed(t *testing.T, timeout time.Duration) (websocket.StatusCode, error) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("connection still open after %v", timeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()

	return websocket.CloseStatus(c.readErr), c.readErr
}

// describe renders messages for failure output.
func describe(ms []signaling.Message) string {
	if len(ms) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		data, err := signaling.Marshal(m)
		if err != nil {
			parts = append(parts, fmt.Sprintf("%T", m))
			continue
		}
		s := string(data)
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		parts = append(parts, s)
	}

	return strings.Join(parts, ", ")
}

// Matchers for expect, by message type and call.

func isType(typ signaling.Type) func(signaling.Message) bool {
	return func(m signaling.Message) bool { return m.MessageType() == typ }
}

func isRinging(callID string) func(signaling.Message) bool {
	return func(m signaling.Message) bool { r, ok := m.(signaling.Ringing); return ok && r.CallID == callID }
}

func isProgress(callID string) func(signaling.Message) bool {
	return func(m signaling.Message) bool { r, ok := m.(signaling.Progress); return ok && r.CallID == callID }
}

func isConnected(callID string) func(signaling.Message) bool {
	return func(m signaling.Message) bool { r, ok := m.(signaling.Connected); return ok && r.CallID == callID }
}

func isHangup(callID string) func(signaling.Message) bool {
	return func(m signaling.Message) bool { r, ok := m.(signaling.HangupEvent); return ok && r.CallID == callID }
}

func isIncoming() func(signaling.Message) bool { return isType(signaling.TypeIncoming) }

// anyMessageAbout matches every message about callID (an error included).
func anyMessageAbout(callID string) func(signaling.Message) bool {
	return func(m signaling.Message) bool {
		switch v := m.(type) {
		case signaling.Answer:
			return v.CallID == callID
		case signaling.Ringing:
			return v.CallID == callID
		case signaling.Progress:
			return v.CallID == callID
		case signaling.Connected:
			return v.CallID == callID
		case signaling.HangupEvent:
			return v.CallID == callID
		case signaling.ErrorReply:
			return v.CallID == callID
		}
		return false
	}
}

// expectHangup waits for the hangup of callID and checks its reason and,
// when sipCode is non-zero, its SIP status.
func (c *wsClient) expectHangup(t *testing.T, callID string, reason signaling.Reason, sipCode int, timeout time.Duration) signaling.HangupEvent {
	t.Helper()
	h := c.expect(t, timeout, "hangup of "+callID, isHangup(callID)).(signaling.HangupEvent)
	if h.Reason != reason || (sipCode != 0 && h.SIPCode != sipCode) {
		t.Fatalf("hangup of %s: reason %q sip_code %d (%q), want reason %q sip_code %d", callID, h.Reason, h.SIPCode, h.SIPReason, reason, sipCode)
	}

	return h
}
