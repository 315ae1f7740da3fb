package signaling

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every failure is a
// *DecodeError with a protocol code and a reason, and that every message it
// accepts survives an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"type":"auth","version":1,"token":"a.b.c"}`,
		`{"type":"auth","version":1,"user":"alice","password":"pw","ref":"1"}`,
		`{"type":"auth","version":2,"x":1}`,
		`{"type":"dial","id":"c1","to":"+15551234567","sdp":` + quote(offerSDP) + `}`,
		`{"type":"dial","id":"c1","to":"+1555","sdp":` + quote(videoOnlySDP) + `}`,
		`{"type":"accept","call_id":"in-1","sdp":` + quote(offerSDP) + `}`,
		`{"type":"reject","call_id":"in-1"}`,
		`{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"candidate","call_id":"c1","candidate":{"candidate":""}}`,
		`{"type":"dtmf","call_id":"c1","digits":"12#"}`,
		`{"type":"hold","call_id":"c1"}`,
		`{"type":"resume","call_id":"c1"}`,
		`{"type":"hangup","call_id":"c1"}`,
		`{"type":"ping","ref":"x"}`,
		`{"type":"ping","type":"ping"}`,
		`{"type":"nope"}`,
		`[]`, `{`, ``, `null`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			var derr *DecodeError
			if !errors.As(err, &derr) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			if !derr.Code.Valid() || derr.Reason == "" {
				t.Fatalf("error without valid code or reason: %+v", derr)
			}
			if derr.CallID != "" && !validCallID(derr.CallID) || !validRef(derr.Ref) {
				t.Fatalf("error echoes an invalid call id or ref: %+v", derr)
			}

			return
		}
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", m, err)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("re-Decode(%s): %v", b, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed the message: %#v -> %#v", m, again)
		}
	})
}
