package sip

import (
	"errors"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestParseDigitInfo(t *testing.T) {
	tests := []struct {
		name  string
		mt    string
		body  string
		digit rune
		dur   time.Duration
		ok    bool
	}{
		{"relay", contentDTMFRelay, "Signal=5\r\nDuration=160\r\n", '5', 160 * time.Millisecond, true},
		{"relay any order and case", contentDTMFRelay, "duration = 300\nSIGNAL = #\n", '#', 300 * time.Millisecond, true},
		{"relay code 10 is star", contentDTMFRelay, "Signal=10\r\n", '*', DefaultInfoDuration, true},
		{"relay lower-case letter", contentDTMFRelay, "Signal=d\r\n", 'D', DefaultInfoDuration, true},
		{"relay other lines ignored", contentDTMFRelay, "Signal=1\r\nVolume=10\r\n", '1', DefaultInfoDuration, true},
		{"plain", contentDTMF, "7\r\n", '7', DefaultInfoDuration, true},
		{"plain code", contentDTMF, "11", '#', DefaultInfoDuration, true},
		{"relay without signal", contentDTMFRelay, "Duration=100\r\n", 0, 0, false},
		{"relay bad signal", contentDTMFRelay, "Signal=X\r\n", 0, 0, false},
		{"relay code out of range", contentDTMFRelay, "Signal=16\r\n", 0, 0, false},
		{"relay two signals", contentDTMFRelay, "Signal=1\r\nSignal=2\r\n", 0, 0, false},
		{"relay bad duration", contentDTMFRelay, "Signal=1\r\nDuration=-5\r\n", 0, 0, false},
		{"relay huge duration", contentDTMFRelay, "Signal=1\r\nDuration=99999999\r\n", 0, 0, false},
		{"relay line without =", contentDTMFRelay, "Signal 1\r\n", 0, 0, false},
		{"plain two digits", contentDTMF, "12 3", 0, 0, false},
		{"plain empty", contentDTMF, " ", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, dur, err := parseDigitInfo(tt.mt, []byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				if !errors.Is(err, errBadInfoBody) {
					t.Errorf("error %v, want errBadInfoBody", err)
				}
				return
			}
			if d != tt.digit || dur != tt.dur {
				t.Errorf("got %q %v, want %q %v", d, dur, tt.digit, tt.dur)
			}
		})
	}
}

// TestInfoFromTrunk: INFO requests of the trunk inside the call: DTMF bodies are answered 200
// and reported as digits; a malformed one gets 400, an unknown type 415 with Accept, and
// neither reports anything nor ends the call; an INFO without a body gets 200.
func TestInfoFromTrunk(t *testing.T) {
	peer, env := dialingUA(t)
	call, inv, ok := dialPeer(t, env, peer, 40030)
	cseq := uint32(100)
	send := func(ctype, body string) *sipmsg.Response {
		t.Helper()
		cseq++
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		req := peerRequest(peer, sipmsg.INFO, inv, ok, cseq, b)
		req.RemoveHeader("Content-Type")
		if ctype != "" {
			req.AppendHeader(sipmsg.NewHeader("Content-Type", ctype))
		}
		peer.Send(req, env.addr)
		return peer.ExpectFinal(req, 5*time.Second)
	}
	tests := []struct {
		name, ctype, body string
		code              int
		digit             rune
		dur               time.Duration
	}{
		{"dtmf-relay", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", 200, '5', 160 * time.Millisecond},
		{"dtmf", "Application/DTMF; charset=utf-8", "#", 200, '#', DefaultInfoDuration},
		{"malformed", "application/dtmf-relay", "Signal=Z\r\n", 400, 0, 0},
		{"unknown type", "application/json", `{"digit":"5"}`, 415, 0, 0},
		{"no body", "", "", 200, 0, 0},
	}
	for _, tt := range tests {
		res := send(tt.ctype, tt.body)
		if res.StatusCode != tt.code {
			t.Fatalf("%s: INFO answered %d, want %d", tt.name, res.StatusCode, tt.code)
		}
		if tt.code == 415 && !strings.Contains(headerValue(res, "Accept"), "application/dtmf-relay") {
			t.Errorf("415 Accept %q", headerValue(res, "Accept"))
		}
		if tt.digit == 0 {
			continue
		}
		select {
		case ev := <-call.Events():
			if ev.Kind != EventDigit || ev.Digit != tt.digit || ev.Duration != tt.dur {
				t.Errorf("%s: event %v %q %v, want digit %q %v", tt.name, ev.Kind, ev.Digit, ev.Duration, tt.digit, tt.dur)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no digit event", tt.name)
		}
	}
	select {
	case ev := <-call.Events():
		t.Errorf("event %v after refused INFOs", ev.Kind)
	default:
	}
	select {
	case <-call.Done():
		t.Fatalf("call ended: %v", call.Err())
	default:
	}
	acceptHangup(t, peer, call, env.addr)
}

// TestSendDigit: a digit goes to the trunk in an INFO inside the dialog, with the trunk's body
// type; a failure response is returned as *StatusError; a non-digit is refused before anything
// is sent.
func TestSendDigit(t *testing.T) {
	tests := []struct {
		name  string
		kind  DTMFInfoType
		ctype string
		body  string
	}{
		{"dtmf-relay", "", "application/dtmf-relay", "Signal=*\r\nDuration=250\r\n"},
		{"dtmf", DTMFInfoPlain, "application/dtmf", "*\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, env := dialingUAWith(t, func(tr *Trunk) { tr.DTMFInfo = tt.kind })
			call, _, _ := dialPeer(t, env, peer, 40032)
			if err := call.SendDigit(t.Context(), 'x', time.Second); !errors.Is(err, ErrBadDigit) {
				t.Errorf("SendDigit('x') = %v, want ErrBadDigit", err)
			}
			for i, code := range []int{200, 501} {
				sent := make(chan error, 1)
				go func() { sent <- call.SendDigit(t.Context(), '*', 250*time.Millisecond) }()
				req := peer.ExpectRequest(sipmsg.INFO, 5*time.Second)
				if ct := headerValue(req, "Content-Type"); ct != tt.ctype || string(req.Body()) != tt.body {
					t.Errorf("INFO %d: Content-Type %q body %q, want %q %q", i, ct, req.Body(), tt.ctype, tt.body)
				}
				peer.Send(sipmsg.NewResponseFromRequest(req, code, "X", nil), env.addr)
				err := <-sent
				var se *StatusError
				switch {
				case code == 200 && err != nil:
					t.Errorf("SendDigit: %v", err)
				case code != 200 && (!errors.As(err, &se) || se.Code != code):
					t.Errorf("SendDigit after %d: %v, want *StatusError %d", code, err, code)
				}
			}
			acceptHangup(t, peer, call, env.addr)
		})
	}
}
