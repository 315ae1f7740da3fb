package gobrowser

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/ear"
)

// Client is the signaling half of a Go browser: one WebSocket to the
// gateway's /ws speaking protocol version 1 (docs/protocol.md). A reader
// goroutine decodes every server frame into an inbox, from which the test
// takes messages in order (Next) or the first that matches (Expect), so
// that messages of several calls may interleave.
type Client struct {
	conn *websocket.Conn

	mu      sync.Mutex
	inbox   []signaling.Message
	seen    chan struct{} // closed and replaced on each message and at the end
	readErr error         // why the reader stopped, once done is closed
	done    chan struct{}
}

// Connect opens a WebSocket to url (ws://host:port/ws); it is closed at
// the end of the test.
func Connect(tb testing.TB, url string) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ear.WaitTimeout)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, url, nil)
	if res != nil && res.Body != nil {
		_ = res.Body.Close()
	}
	if err != nil {
		tb.Fatalf("websocket %s: %v", url, err)
	}
	conn.SetReadLimit(4 * signaling.MaxFrameSize)
	c := &Client{conn: conn, seen: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	tb.Cleanup(c.Close)

	return c
}

// read decodes server frames until the connection ends.
func (c *Client) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(context.Background())
		var m signaling.Message
		if err == nil {
			if m, err = signaling.DecodeServer(data); err != nil {
				err = fmt.Errorf("gobrowser: undecodable server frame %q: %w", data, err)
			}
		}
		c.mu.Lock()
		if err == nil {
			c.inbox = append(c.inbox, m)
		} else {
			c.readErr = err
		}
		close(c.seen)
		c.seen = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			_ = c.conn.CloseNow()

			return
		}
	}
}

// Close closes the WebSocket at once and waits for the reader.
func (c *Client) Close() {
	_ = c.conn.CloseNow()
	<-c.done
}

// CloseWith closes the WebSocket with a close frame of status (RFC 6455
// section 7.1.2) and waits for the reader.
func (c *Client) CloseWith(status websocket.StatusCode) {
	_ = c.conn.Close(status, "")
	<-c.done
}

// Send writes one protocol message.
func (c *Client) Send(tb testing.TB, m signaling.Message) {
	tb.Helper()
	data, err := signaling.Marshal(m)
	if err != nil {
		tb.Fatalf("marshal %T: %v", m, err)
	}
	c.SendRaw(tb, data)
}

// SendRaw writes one text frame as it is.
func (c *Client) SendRaw(tb testing.TB, data []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ear.WaitTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
		tb.Fatalf("websocket write: %v", err)
	}
}

// take waits until pick chooses a message of the inbox (its index, or -1
// for none yet) and removes it, with every message before it when
// dropBefore is set; it fails tb after ear.WaitTimeout or when the
// connection ends, with what arrived instead.
func (c *Client) take(tb testing.TB, what string, dropBefore bool, pick func([]signaling.Message) int) signaling.Message {
	tb.Helper()
	deadline := time.NewTimer(ear.WaitTimeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if i := pick(c.inbox); i >= 0 {
			m := c.inbox[i]
			if dropBefore {
				c.inbox = c.inbox[i+1:]
			} else {
				c.inbox = append(c.inbox[:i:i], c.inbox[i+1:]...)
			}
			c.mu.Unlock()

			return m
		}
		seen, readErr, pending := c.seen, c.readErr, Describe(c.inbox)
		c.mu.Unlock()
		if readErr != nil {
			tb.Fatalf("browser waiting for %s: connection ended (%v); unmatched messages: %s", what, readErr, pending)
		}
		select {
		case <-seen:
		case <-deadline.C:
			tb.Fatalf("browser: no %s within %v; unmatched messages: %s", what, ear.WaitTimeout, pending)
		}
	}
}

// Expect takes the first message of the inbox for which match is true,
// waiting for it.
func (c *Client) Expect(tb testing.TB, what string, match func(signaling.Message) bool) signaling.Message {
	tb.Helper()

	return c.take(tb, what, false, func(inbox []signaling.Message) int {
		for i, m := range inbox {
			if match(m) {
				return i
			}
		}

		return -1
	})
}

// Next takes the next message in order that is not a pong, not a quality
// event (advisory, sent whenever the gateway measures a call) unless T is
// one, and not of a type in skip (those before it are dropped), and fails
// tb unless it is a T.
func Next[T signaling.Message](tb testing.TB, c *Client, skip ...signaling.Type) T {
	tb.Helper()
	var zero T
	m := c.take(tb, fmt.Sprintf("%T", zero), true, func(inbox []signaling.Message) int {
		for i, m := range inbox {
			if _, ok := m.(T); ok {
				return i
			}
			if t := m.MessageType(); t != signaling.TypePong && t != signaling.TypeQuality && !contains(skip, t) {
				return i
			}
		}

		return -1
	})
	v, ok := m.(T)
	if !ok {
		tb.Fatalf("got %s, want %T", Describe([]signaling.Message{m}), zero)
	}

	return v
}

func contains(types []signaling.Type, t signaling.Type) bool {
	for _, s := range types {
		if s == t {
			return true
		}
	}

	return false
}

// None fails tb if a message matching match arrives within d (or is
// already in the inbox).
func (c *Client) None(tb testing.TB, d time.Duration, what string, match func(signaling.Message) bool) {
	tb.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for _, m := range c.inbox {
			if match(m) {
				c.mu.Unlock()
				tb.Fatalf("browser got %s: %s", what, Describe([]signaling.Message{m}))
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

// WaitClosed waits until the server closed the connection and returns
// the WebSocket close status it gave (-1 when none) and the reader's
// error.
func (c *Client) WaitClosed(tb testing.TB) (websocket.StatusCode, error) {
	tb.Helper()
	waitClosed(tb, c.done, "close of the WebSocket")
	c.mu.Lock()
	defer c.mu.Unlock()

	return websocket.CloseStatus(c.readErr), c.readErr
}

// Describe renders messages for failure output.
func Describe(ms []signaling.Message) string {
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
