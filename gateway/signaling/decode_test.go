package signaling

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// decodeCase is a frame and the message it decodes to.
type decodeCase[M Message] struct {
	name  string
	frame string
	want  M
}

// checkDecodes runs decode (using names it) on each case's frame and fails
// unless it returns the wanted message; more, when not nil, then checks
// what else the message must say.
func checkDecodes[M Message](t *testing.T, using string, decode func([]byte) (M, error), tests []decodeCase[M], more func(t *testing.T, got, want M)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode([]byte(tt.frame))
			if err != nil {
				t.Fatalf("%s: %v", using, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("%s = %#v, want %#v", using, got, tt.want)
			}
			if more != nil {
				more(t, got, tt.want)
			}
		})
	}
}

func TestDecodeValid(t *testing.T) {
	tests := []decodeCase[ClientMessage]{
		{"auth token", `{"type":"auth","version":1,"token":"eyJ.a.b"}`, Auth{Version: 1, Token: "eyJ.a.b"}},
		{"auth password", `{"type":"auth","version":1,"user":"alice","password":"s3cret","ref":"r1"}`,
			Auth{Version: 1, User: "alice", Password: "s3cret", Ref: "r1"}},
		{"dial", `{"type":"dial","id":"call-1","to":"+4420794600","sdp":` + quote(offerSDP) + `}`,
			Dial{ID: "call-1", To: "+4420794600", SDP: offerSDP}},
		{"dial short number", `{"type":"dial","id":"c.2:x_y","to":"*31#100","sdp":` + quote(offerSDP) + `,"ref":"d"}`,
			Dial{ID: "c.2:x_y", To: "*31#100", SDP: offerSDP, Ref: "d"}},
		{"accept", `{"type":"accept","call_id":"in-7","sdp":` + quote(offerSDP) + `}`, Accept{CallID: "in-7", SDP: offerSDP}},
		{"reject", `{"type":"reject","call_id":"in-7"}`, Reject{CallID: "in-7"}},
		{"candidate", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"Vx3p"}}`,
			Candidate{CallID: "c1", Candidate: ICECandidate{
				Candidate: "candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host",
				SDPMid:    ptr("0"), SDPMLineIndex: ptr(uint16(0)), UsernameFragment: ptr("Vx3p"),
			}}},
		{"candidate null members", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":null,"sdpMLineIndex":3,"usernameFragment":null}}`,
			Candidate{CallID: "c1", Candidate: ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", SDPMLineIndex: ptr(uint16(3))}}},
		{"end of candidates", `{"type":"candidate","call_id":"c1","candidate":{"candidate":""}}`, Candidate{CallID: "c1"}},
		{"dtmf", `{"type":"dtmf","call_id":"c1","digits":"0123456789*#ABCD"}`, DTMF{CallID: "c1", Digits: "0123456789*#ABCD"}},
		{"hold", `{"type":"hold","call_id":"c1"}`, Hold{CallID: "c1"}},
		{"resume", `{"type":"resume","call_id":"c1"}`, Resume{CallID: "c1"}},
		{"hangup", `{"type":"hangup","call_id":"c1","ref":"bye"}`, Hangup{CallID: "c1", Ref: "bye"}},
		{"ping", `{"type":"ping"}`, Ping{}},
		{"ping null ref", ` {"ref":null, "type":"ping"} `, Ping{}},
	}
	checkDecodes(t, "Decode", Decode, tests, func(t *testing.T, got, want ClientMessage) {
		t.Helper()
		if got.Reference() != want.Reference() {
			t.Fatalf("Reference = %q, want %q", got.Reference(), want.Reference())
		}
	})
}

func TestDecodeInvalid(t *testing.T) {
	sdp := quote(offerSDP)
	tests := []struct {
		name   string
		frame  string
		code   Code
		field  string
		callID string // expected best-effort call id in the error
		ref    string
	}{
		// Whole frame.
		{"empty", ``, CodeBadRequest, "", "", ""},
		{"whitespace", " \n", CodeBadRequest, "", "", ""},
		{"not JSON", `hello`, CodeBadRequest, "", "", ""},
		{"truncated", `{"type":"ping"`, CodeBadRequest, "", "", ""},
		{"array", `[{"type":"ping"}]`, CodeBadRequest, "", "", ""},
		{"string", `"ping"`, CodeBadRequest, "", "", ""},
		{"two values", `{"type":"ping"}{"type":"ping"}`, CodeBadRequest, "", "", ""},
		{"invalid UTF-8", "{\"type\":\"ping\",\"ref\":\"\xff\"}", CodeBadRequest, "", "", ""},
		{"too large", `{"type":"ping","ref":"` + strings.Repeat("a", MaxFrameSize) + `"}`, CodeBadRequest, "", "", ""},
		{"duplicate member", `{"type":"hangup","call_id":"a","call_id":"b"}`, CodeBadRequest, "call_id", "", ""},

		// type.
		{"missing type", `{"call_id":"c1"}`, CodeBadRequest, "type", "c1", ""},
		{"type not string", `{"type":1}`, CodeBadRequest, "type", "", ""},
		{"type null", `{"type":null}`, CodeBadRequest, "type", "", ""},
		{"unknown type", `{"type":"redial","call_id":"c1","ref":"r9"}`, CodeUnknownType, "type", "c1", "r9"},
		{"unknown type bad call id", `{"type":"redial","call_id":"c 1","ref":"r\u0000"}`, CodeUnknownType, "type", "", ""},
		{"server type", `{"type":"answer","call_id":"c1","sdp":"x"}`, CodeUnknownType, "type", "c1", ""},
		{"type wrong case", `{"type":"Ping"}`, CodeUnknownType, "type", "", ""},

		// Unknown and misspelt members.
		{"unknown member", `{"type":"ping","extra":true}`, CodeBadRequest, "extra", "", ""},
		{"member wrong case", `{"type":"hangup","Call_ID":"c1"}`, CodeBadRequest, "Call_ID", "", ""},
		{"unknown nested member", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"","foo":1}}`, CodeBadRequest, "candidate.foo", "c1", ""},

		// auth.
		{"auth no version", `{"type":"auth","token":"t"}`, CodeBadRequest, "version", "", ""},
		{"auth version 2", `{"type":"auth","version":2,"token":"t"}`, CodeUnsupportedVersion, "version", "", ""},
		{"auth version 2 new members", `{"type":"auth","version":2,"token":"t","features":["x"]}`, CodeUnsupportedVersion, "version", "", ""},
		{"auth version null", `{"type":"auth","version":null,"token":"t"}`, CodeBadRequest, "version", "", ""},
		{"auth version 0", `{"type":"auth","version":0,"token":"t"}`, CodeUnsupportedVersion, "version", "", ""},
		{"auth version negative", `{"type":"auth","version":-1,"token":"t","x":1}`, CodeUnsupportedVersion, "version", "", ""},
		{"auth version string", `{"type":"auth","version":"1","token":"t"}`, CodeBadRequest, "version", "", ""},
		{"auth version float", `{"type":"auth","version":1.5,"token":"t"}`, CodeBadRequest, "version", "", ""},
		{"auth nothing", `{"type":"auth","version":1}`, CodeBadRequest, "token", "", ""},
		{"auth token and user", `{"type":"auth","version":1,"token":"t","user":"u"}`, CodeBadRequest, "token", "", ""},
		{"auth token and password", `{"type":"auth","version":1,"token":"t","password":"p"}`, CodeBadRequest, "token", "", ""},
		{"auth token control char", `{"type":"auth","version":1,"token":"a\nb"}`, CodeBadRequest, "token", "", ""},
		{"auth token too long", `{"type":"auth","version":1,"token":"` + strings.Repeat("t", MaxTokenSize+1) + `"}`, CodeBadRequest, "token", "", ""},
		{"auth user without password", `{"type":"auth","version":1,"user":"u"}`, CodeBadRequest, "password", "", ""},
		{"auth password without user", `{"type":"auth","version":1,"password":"p"}`, CodeBadRequest, "user", "", ""},
		{"auth user too long", `{"type":"auth","version":1,"user":"` + strings.Repeat("u", MaxUserSize+1) + `","password":"p"}`, CodeBadRequest, "user", "", ""},
		{"auth password too long", `{"type":"auth","version":1,"user":"u","password":"` + strings.Repeat("p", MaxPasswordSize+1) + `"}`, CodeBadRequest, "password", "", ""},
		{"auth password number", `{"type":"auth","version":1,"user":"u","password":1234}`, CodeBadRequest, "password", "", ""},

		// dial.
		{"dial no id", `{"type":"dial","to":"+1555","sdp":` + sdp + `}`, CodeBadRequest, "id", "", ""},
		{"dial bad id", `{"type":"dial","id":"a b","to":"+1555","sdp":` + sdp + `}`, CodeBadRequest, "id", "", ""},
		{"dial id too long", `{"type":"dial","id":"` + strings.Repeat("i", MaxCallIDSize+1) + `","to":"+1555","sdp":` + sdp + `}`, CodeBadRequest, "id", "", ""},
		{"dial call_id instead of id", `{"type":"dial","call_id":"c1","to":"+1555","sdp":` + sdp + `}`, CodeBadRequest, "call_id", "", ""},
		{"dial no to", `{"type":"dial","id":"c1","sdp":` + sdp + `}`, CodeBadRequest, "to", "c1", ""},
		{"dial to number", `{"type":"dial","id":"c1","to":15551234,"sdp":` + sdp + `,"ref":"x"}`, CodeBadRequest, "to", "c1", "x"},
		{"dial to letters", `{"type":"dial","id":"c1","to":"+1555CALLME","sdp":` + sdp + `}`, CodeInvalidNumber, "to", "c1", ""},
		{"dial to formatted", `{"type":"dial","id":"c1","to":"+1 (555) 123-4567","sdp":` + sdp + `}`, CodeInvalidNumber, "to", "c1", ""},
		{"dial to uri", `{"type":"dial","id":"c1","to":"sip:bob@example.com","sdp":` + sdp + `}`, CodeInvalidNumber, "to", "c1", ""},
		{"dial to plus only", `{"type":"dial","id":"c1","to":"+","sdp":` + sdp + `}`, CodeInvalidNumber, "to", "c1", ""},
		{"dial to two plus", `{"type":"dial","id":"c1","to":"++1555","sdp":` + sdp + `}`, CodeInvalidNumber, "to", "c1", ""},
		{"dial to too long", `{"type":"dial","id":"c1","to":"+` + strings.Repeat("1", MaxNumberSize) + `","sdp":` + sdp + `}`, CodeInvalidNumber, "to", "c1", ""},
		{"dial no sdp", `{"type":"dial","id":"c1","to":"+1555"}`, CodeBadRequest, "sdp", "c1", ""},
		{"dial sdp garbage", `{"type":"dial","id":"c1","to":"+1555","sdp":"hello"}`, CodeBadRequest, "sdp", "c1", ""},
		{"dial sdp too long", `{"type":"dial","id":"c1","to":"+1555","sdp":` + quote(offerSDP+strings.Repeat("a=x\r\n", MaxSDPSize/5)) + `}`, CodeBadRequest, "sdp", "c1", ""},
		{"dial sdp without audio", `{"type":"dial","id":"c1","to":"+1555","sdp":` + quote(videoOnlySDP) + `}`, CodeNoCommonCodec, "sdp", "c1", ""},
		{"dial sdp audio disabled", `{"type":"dial","id":"c1","to":"+1555","sdp":` + quote(disabledAudioSDP) + `}`, CodeNoCommonCodec, "sdp", "c1", ""},
		{"dial bad ref", `{"type":"dial","id":"c1","to":"+1555","sdp":` + sdp + `,"ref":"` + strings.Repeat("r", MaxRefSize+1) + `"}`, CodeBadRequest, "ref", "c1", ""},
		{"dial ref control char", `{"type":"dial","id":"c1","to":"+1555","sdp":` + sdp + `,"ref":"a\tb"}`, CodeBadRequest, "ref", "c1", ""},

		// accept.
		{"accept no call_id", `{"type":"accept","sdp":` + sdp + `}`, CodeBadRequest, "call_id", "", ""},
		{"accept no sdp", `{"type":"accept","call_id":"in-1"}`, CodeBadRequest, "sdp", "in-1", ""},
		{"accept sdp object", `{"type":"accept","call_id":"in-1","sdp":{"type":"offer"}}`, CodeBadRequest, "sdp", "in-1", ""},
		{"accept sdp without audio", `{"type":"accept","call_id":"in-1","sdp":` + quote(videoOnlySDP) + `}`, CodeNoCommonCodec, "sdp", "in-1", ""},

		// reject, hold, resume, hangup.
		{"reject no call_id", `{"type":"reject"}`, CodeBadRequest, "call_id", "", ""},
		{"hold call_id number", `{"type":"hold","call_id":7}`, CodeBadRequest, "call_id", "", ""},
		{"resume bad call_id", `{"type":"resume","call_id":"c/1"}`, CodeBadRequest, "call_id", "", ""},
		{"hangup extra sdp", `{"type":"hangup","call_id":"c1","sdp":"x"}`, CodeBadRequest, "sdp", "c1", ""},

		// candidate.
		{"candidate missing", `{"type":"candidate","call_id":"c1"}`, CodeBadRequest, "candidate", "c1", ""},
		{"candidate null", `{"type":"candidate","call_id":"c1","candidate":null}`, CodeBadRequest, "candidate", "c1", ""},
		{"candidate string", `{"type":"candidate","call_id":"c1","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`, CodeBadRequest, "candidate", "c1", ""},
		{"candidate bad prefix", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"a=candidate:1","sdpMid":"0"}}`, CodeBadRequest, "candidate.candidate", "c1", ""},
		{"candidate CRLF", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=x","sdpMid":"0"}}`, CodeBadRequest, "candidate.candidate", "c1", ""},
		{"candidate too long", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:` + strings.Repeat("1", MaxCandidateSize) + `","sdpMid":"0"}}`, CodeBadRequest, "candidate.candidate", "c1", ""},
		{"candidate no mid", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}}`, CodeBadRequest, "candidate.sdpMid", "c1", ""},
		{"candidate mline negative", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1","sdpMLineIndex":-1}}`, CodeBadRequest, "candidate.sdpMLineIndex", "c1", ""},
		{"candidate mline too big", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1","sdpMLineIndex":65536}}`, CodeBadRequest, "candidate.sdpMLineIndex", "c1", ""},
		{"candidate mline string", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1","sdpMLineIndex":"0"}}`, CodeBadRequest, "candidate.sdpMLineIndex", "c1", ""},
		{"candidate mid too long", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1","sdpMid":"` + strings.Repeat("m", MaxCallIDSize+1) + `"}}`, CodeBadRequest, "candidate.sdpMid", "c1", ""},
		{"candidate ufrag control", `{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1","sdpMid":"0","usernameFragment":"a\u0001"}}`, CodeBadRequest, "candidate.usernameFragment", "c1", ""},

		// dtmf.
		{"dtmf no digits", `{"type":"dtmf","call_id":"c1"}`, CodeBadRequest, "digits", "c1", ""},
		{"dtmf bad digit", `{"type":"dtmf","call_id":"c1","digits":"12E"}`, CodeBadRequest, "digits", "c1", ""},
		{"dtmf lower case", `{"type":"dtmf","call_id":"c1","digits":"a"}`, CodeBadRequest, "digits", "c1", ""},
		{"dtmf pause", `{"type":"dtmf","call_id":"c1","digits":"1,2"}`, CodeBadRequest, "digits", "c1", ""},
		{"dtmf too many", `{"type":"dtmf","call_id":"c1","digits":"` + strings.Repeat("1", MaxDigits+1) + `"}`, CodeBadRequest, "digits", "c1", ""},
		{"dtmf digits array", `{"type":"dtmf","call_id":"c1","digits":["1"]}`, CodeBadRequest, "digits", "c1", ""},

		// ping.
		{"ping ref number", `{"type":"ping","ref":5}`, CodeBadRequest, "ref", "", ""},
		{"ping with call_id", `{"type":"ping","call_id":"c1","ref":"p"}`, CodeBadRequest, "call_id", "c1", "p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.frame))
			if err == nil {
				t.Fatalf("Decode = %#v, want error %s", m, tt.code)
			}
			var derr *DecodeError
			if !errors.As(err, &derr) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if derr.Code != tt.code || derr.Field != tt.field {
				t.Fatalf("got code %q field %q (%v), want code %q field %q", derr.Code, derr.Field, err, tt.code, tt.field)
			}
			if derr.Reason == "" {
				t.Fatal("empty reason")
			}
			if derr.CallID != tt.callID || derr.Ref != tt.ref {
				t.Fatalf("got call id %q ref %q, want %q %q", derr.CallID, derr.Ref, tt.callID, tt.ref)
			}
			reply := derr.Reply()
			if reply.Code != tt.code || reply.CallID != tt.callID || reply.Ref != tt.ref {
				t.Fatalf("Reply = %+v", reply)
			}
			if tt.field != "" && !strings.HasPrefix(reply.Message, tt.field+": ") {
				t.Fatalf("reply message %q does not name field %q", reply.Message, tt.field)
			}
			if len(reply.Message) > 512 {
				t.Fatalf("reply message is %d bytes long", len(reply.Message))
			}
		})
	}
}

func TestDecodeErrorMessageDoesNotEchoSecrets(t *testing.T) {
	frames := []string{
		`{"type":"auth","version":1,"user":"alice","password":"hunter2-secret","extra":1}`,
		`{"type":"auth","version":1,"token":"hunter2-secret","user":"alice"}`,
		`{"type":"auth","version":3,"token":"hunter2-secret"}`,
		`{"type":"auth","version":1,"password":"hunter2-secret"}`,
	}
	for _, f := range frames {
		_, err := Decode([]byte(f))
		if err == nil {
			t.Fatalf("Decode(%s) succeeded", f)
		}
		var derr *DecodeError
		if !errors.As(err, &derr) {
			t.Fatalf("not a DecodeError: %v", err)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(derr.Reply().Message, "hunter2") {
			t.Fatalf("error %q reveals the secret", err)
		}
	}
}

func TestAuthRedacted(t *testing.T) {
	a := Auth{Version: 1, User: "alice", Password: "hunter2", Token: "tok-secret"}
	for _, s := range []string{a.String(), a.LogValue().String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "tok-secret") {
			t.Fatalf("%q reveals a credential", s)
		}
		if !strings.Contains(s, "alice") {
			t.Fatalf("%q lacks the user", s)
		}
	}
}

func TestDecodeServer(t *testing.T) {
	tests := []decodeCase[Message]{
		{"authenticated", `{"type":"authenticated","version":1,"user":"alice","max_calls":2,"ice_servers":[{"urls":["stun:127.0.0.1:3478"]}]}`,
			Authenticated{Version: 1, User: "alice", MaxCalls: 2, ICEServers: []ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}}},
		{"answer", `{"type":"answer","call_id":"c1","sdp":` + quote(offerSDP) + `}`, Answer{CallID: "c1", SDP: offerSDP}},
		{"ringing", `{"type":"ringing","call_id":"c1"}`, Ringing{CallID: "c1"}},
		{"progress", `{"type":"progress","call_id":"c1"}`, Progress{CallID: "c1"}},
		{"connected", `{"type":"connected","call_id":"c1"}`, Connected{CallID: "c1"}},
		{"incoming", `{"type":"incoming","call_id":"in-1","from":"+15551230000","from_name":"Bob","to":"+442079460000"}`,
			Incoming{CallID: "in-1", From: "+15551230000", FromName: "Bob", To: "+442079460000"}},
		{"candidate", `{"type":"candidate","call_id":"c1","candidate":{"candidate":""}}`, Candidate{CallID: "c1"}},
		{"dtmf", `{"type":"dtmf","call_id":"c1","digit":"#"}`, DTMFEvent{CallID: "c1", Digit: "#"}},
		{"hangup", `{"type":"hangup","call_id":"c1","reason":"busy","sip_code":486,"sip_reason":"Busy Here"}`,
			HangupEvent{CallID: "c1", Reason: ReasonBusy, SIPCode: 486, SIPReason: "Busy Here"}},
		{"error", `{"type":"error","code":"not_found","message":"no such call","call_id":"c9","ref":"r"}`,
			ErrorReply{Code: CodeNotFound, Message: "no such call", CallID: "c9", Ref: "r"}},
		{"pong", `{"type":"pong","ref":"r"}`, Pong{Ref: "r"}},
		{"newer member ignored", `{"type":"connected","call_id":"c1","since":12}`, Connected{CallID: "c1"}},
		{"newer reason kept", `{"type":"hangup","call_id":"c1","reason":"transferred"}`, HangupEvent{CallID: "c1", Reason: "transferred"}},
	}
	checkDecodes(t, "DecodeServer", DecodeServer, tests, nil)

	bad := []struct {
		name, frame, field string
	}{
		{"client type", `{"type":"dial","id":"c1","to":"+1","sdp":"x"}`, "type"},
		{"dtmf two digits", `{"type":"dtmf","call_id":"c1","digit":"12"}`, "digit"},
		{"hangup no reason", `{"type":"hangup","call_id":"c1"}`, "reason"},
		{"hangup bad sip code", `{"type":"hangup","call_id":"c1","reason":"failed","sip_code":42}`, "sip_code"},
		{"error no code", `{"type":"error","message":"x"}`, "code"},
		{"answer without call", `{"type":"answer","sdp":"x"}`, "call_id"},
		{"authenticated other version", `{"type":"authenticated","version":2,"user":"a","max_calls":1,"ice_servers":[]}`, "version"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeServer([]byte(tt.frame))
			var derr *DecodeError
			if !errors.As(err, &derr) || derr.Field != tt.field {
				t.Fatalf("DecodeServer error = %v, want one about %q", err, tt.field)
			}
		})
	}
}

// checkEnum fails unless all holds want distinct values that valid accepts,
// and valid refuses "nope"; what names the kind of value.
func checkEnum[T ~string](t *testing.T, what string, all []T, valid func(T) bool, want int) {
	t.Helper()
	seen := map[T]bool{}
	for _, v := range all {
		if !valid(v) || seen[v] {
			t.Fatalf("%s %q invalid or duplicated", what, v)
		}
		seen[v] = true
	}
	if len(seen) != want {
		t.Fatalf("%d %ss, want %d", len(seen), what, want)
	}
	if valid("nope") {
		t.Fatalf("%s %q accepted", what, "nope")
	}
}

func TestCodesAndReasons(t *testing.T) {
	checkEnum(t, "code", Codes(), Code.Valid, 29)
	checkEnum(t, "reason", Reasons(), Reason.Valid, 16)
	Codes()[0] = "mutated"
	if !CodeUnauthorized.Valid() || Codes()[0] != CodeUnauthorized {
		t.Fatal("Codes returned the package's own array")
	}
}
