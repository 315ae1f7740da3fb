package integration

import (
	"bytes"
	"testing"
	"time"

	"github.com/coder/websocket"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/loopbackrtc"
)

// TestBadInput: each kind of bad client input gets its documented error
// (docs/protocol.md), and a call running beside it, on the same WebSocket
// or another, keeps its audio both ways.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	b := e.login(t, userAlice)
	call := b.dialConnected(t, numberOK)

	sameConn := []struct {
		name  string
		frame func(t *testing.T) []byte
		code  signaling.Code
		ref   string // expected echo of the frame's ref, if any
	}{
		{"malformed JSON", func(*testing.T) []byte { return []byte(`{"type":"dial","id":`) }, signaling.CodeBadRequest, ""},
		{"unknown type", func(*testing.T) []byte { return []byte(`{"type":"teleport","ref":"r-unknown"}`) }, signaling.CodeUnknownType, "r-unknown"},
		{"unknown field", func(*testing.T) []byte { return []byte(`{"type":"ping","ref":"r-field","color":"red"}`) }, signaling.CodeBadRequest, "r-field"},
		{"huge frame", func(*testing.T) []byte {
			return append(append([]byte(`{"type":"ping","ref":"`), bytes.Repeat([]byte("x"), 2*signaling.MaxFrameSize)...), `"}`...)
		}, signaling.CodeBadRequest, ""},
		{"dial reusing the running call's id", func(t *testing.T) []byte {
			return marshal(t, signaling.Dial{ID: call.id, To: numberOK, SDP: newPeer(t).Offer(t), Ref: "r-reuse"})
		}, signaling.CodeOutOfOrder, "r-reuse"},
		{"accept of a call that is not ringing", func(t *testing.T) []byte {
			return marshal(t, signaling.Accept{CallID: call.id, SDP: newPeer(t).Offer(t), Ref: "r-accept"})
		}, signaling.CodeOutOfOrder, "r-accept"},
		{"second auth", func(*testing.T) []byte {
			return []byte(`{"type":"auth","version":1,"user":"alice","password":"` + testPassword + `","ref":"r-auth2"}`)
		}, signaling.CodeOutOfOrder, "r-auth2"},
		{"dtmf on a call that does not exist", func(t *testing.T) []byte {
			return marshal(t, signaling.DTMF{CallID: "gone", Digits: "1", Ref: "r-dtmf"})
		}, signaling.CodeNotFound, "r-dtmf"},
		{"hangup of an unknown call", func(t *testing.T) []byte {
			return marshal(t, signaling.Hangup{CallID: "no-such-call", Ref: "r-unknown-call"})
		}, signaling.CodeNotFound, "r-unknown-call"},
		{"offer without audio", func(t *testing.T) []byte {
			return marshal(t, signaling.Dial{ID: "no-audio", To: "+15551230002", SDP: dataOnlyOffer(t), Ref: "r-noaudio"})
		}, signaling.CodeNoCommonCodec, "r-noaudio"},
	}
	for _, tt := range sameConn {
		t.Run("same connection/"+tt.name, func(t *testing.T) {
			b.ws.SendRaw(t, tt.frame(t))
			m := b.ws.Expect(t, "error "+string(tt.code), gobrowser.IsType(signaling.TypeError)).(signaling.ErrorReply)
			if m.Code != tt.code || (tt.ref != "" && m.Ref != tt.ref) {
				t.Fatalf("got error %q ref %q (%s), want %q ref %q", m.Code, m.Ref, m.Message, tt.code, tt.ref)
			}
			// The connection still works and the call still has audio.
			b.ws.Send(t, signaling.Ping{Ref: "alive"})
			b.ws.Expect(t, "pong", gobrowser.IsType(signaling.TypePong))
			b.ws.None(t, 0, "hangup of the running call", gobrowser.Is[signaling.HangupEvent](call.id))
			stillHearing(t, call.peer, call.trunk)
		})
	}
	if n := len(e.trunk.Requests(sipmsg.INVITE)); n != 1 {
		t.Errorf("trunk received %d INVITEs, want only the running call's: %s", n, e.trunk.Summary())
	}

	otherConn := []struct {
		name string
		auth func(t *testing.T) signaling.Message // nil: send a dial first
		code signaling.Code
	}{
		{"dial before auth", nil, signaling.CodeOutOfOrder},
		{"wrong password", func(*testing.T) signaling.Message {
			return signaling.Auth{Version: signaling.Version, User: userAlice, Password: "wrong"}
		}, signaling.CodeUnauthorized},
		{"JWT signed with another key", func(t *testing.T) signaling.Message {
			return signaling.Auth{Version: signaling.Version, Token: token(t, "some-other-key-that-is-long-enough-000", userAlice, time.Hour)}
		}, signaling.CodeUnauthorized},
		{"expired JWT", func(t *testing.T) signaling.Message {
			return signaling.Auth{Version: signaling.Version, Token: token(t, jwtKey, userAlice, -time.Minute)}
		}, signaling.CodeUnauthorized},
		{"garbage token", func(*testing.T) signaling.Message {
			return signaling.Auth{Version: signaling.Version, Token: "not.a.jwt"}
		}, signaling.CodeUnauthorized},
		{"unsupported protocol version", func(*testing.T) signaling.Message {
			return signaling.Auth{Version: signaling.Version + 1, User: userAlice, Password: testPassword}
		}, signaling.CodeUnsupportedVersion},
	}
	for _, tt := range otherConn {
		t.Run("other connection/"+tt.name, func(t *testing.T) {
			ws := gobrowser.Connect(t, e.wsURL())
			if tt.auth == nil {
				ws.Send(t, signaling.Dial{ID: "early", To: numberOK, SDP: newPeer(t).Offer(t), Ref: "r-early"})
			} else {
				ws.Send(t, tt.auth(t))
			}
			m := ws.Expect(t, "error "+string(tt.code), func(m signaling.Message) bool {
				return m.MessageType() == signaling.TypeError || m.MessageType() == signaling.TypeAuthenticated
			})
			if er, ok := m.(signaling.ErrorReply); !ok || er.Code != tt.code {
				t.Fatalf("got %s, want error %q", gobrowser.Describe([]signaling.Message{m}), tt.code)
			}
			stillHearing(t, call.peer, call.trunk)
		})
	}
	t.Run("other connection/flood frame closes only that connection", func(t *testing.T) {
		ws := gobrowser.Connect(t, e.wsURL())
		ws.SendRaw(t, bytes.Repeat([]byte(" "), signaling.MaxSkipSize+1024))
		code, err := ws.WaitClosed(t)
		if code != websocket.StatusMessageTooBig {
			t.Errorf("flooding connection closed with status %d (%v), want %d (docs/protocol.md, Size limits)", code, err, websocket.StatusMessageTooBig)
		}
		stillHearing(t, call.peer, call.trunk)
	})
	if n := len(e.trunk.Requests(sipmsg.INVITE)); n != 1 {
		t.Errorf("trunk received %d INVITEs, want only the running call's: %s", n, e.trunk.Summary())
	}
	b.ws.HangUp(t, call.id)
	call.trunk.WaitEnded(t, faketrunk.EndByeReceived)
}

// marshal encodes a protocol message.
func marshal(t *testing.T, m signaling.Message) []byte {
	t.Helper()
	data, err := signaling.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}

	return data
}

// dataOnlyOffer is a real WebRTC offer with a data channel and no audio.
func dataOnlyOffer(t *testing.T) string {
	t.Helper()
	pc := gobrowser.NewPeerConnection(t, loopbackrtc.Options{})
	if _, err := pc.CreateDataChannel("chat", nil); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}

	return o.SDP
}
