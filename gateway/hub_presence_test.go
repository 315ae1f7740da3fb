package gateway

import "testing"

// TestHubPresenceBalanced: every connection the hub reported arriving is
// reported leaving exactly once, whether it left the user's set by
// closing (forget) or by no longer ringing (forgetUser, a SIP over
// WebSocket client unregistering), so that a user's extension is
// unregistered once its last browser is gone.
func TestHubPresenceBalanced(t *testing.T) {
	tests := []struct {
		name  string
		leave func(h *hub, c *wsConn)
	}{
		{"closed", func(h *hub, c *wsConn) { h.forget(c, "alice") }},
		{"unregistered, then closed", func(h *hub, c *wsConn) {
			h.forgetUser(c, "alice")
			h.forget(c, "alice")
		}},
		{"unregistered twice", func(h *hub, c *wsConn) {
			h.forgetUser(c, "alice")
			h.forgetUser(c, "alice")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHub()
			present := 0
			h.presence = func(user string, arrived bool) {
				if user != "alice" {
					t.Errorf("presence of %q", user)
				}
				if arrived {
					present++
				} else {
					present--
				}
			}
			c := &wsConn{}
			h.track(c)
			if !h.login(c, "alice", 2) {
				t.Fatal("login refused")
			}
			if present != 1 {
				t.Fatalf("present %d after login, want 1", present)
			}
			tt.leave(h, c)
			if present != 0 {
				t.Errorf("present %d after leaving, want 0", present)
			}
		})
	}
}
