package signaling

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/config"
)

func TestMarshalWireForm(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"authenticated", Authenticated{Version: 1, User: "alice", MaxCalls: 2},
			`{"type":"authenticated","version":1,"user":"alice","max_calls":2,"ice_servers":[]}`},
		{"authenticated turn", Authenticated{Version: 1, User: "a", MaxCalls: 1, ICEServers: []ICEServer{{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "u", Credential: "c"}}},
			`{"type":"authenticated","version":1,"user":"a","max_calls":1,"ice_servers":[{"urls":["turn:127.0.0.1:3478?transport=udp"],"username":"u","credential":"c"}]}`},
		{"answer", Answer{CallID: "c1", SDP: "v=0\r\n"}, `{"type":"answer","call_id":"c1","sdp":"v=0\r\n"}`},
		{"ringing", Ringing{CallID: "c1"}, `{"type":"ringing","call_id":"c1"}`},
		{"progress", Progress{CallID: "c1"}, `{"type":"progress","call_id":"c1"}`},
		{"connected", Connected{CallID: "c1"}, `{"type":"connected","call_id":"c1"}`},
		{"incoming anonymous", Incoming{CallID: "in-1", To: "+442079460000"}, `{"type":"incoming","call_id":"in-1","from":"","to":"+442079460000"}`},
		{"candidate", Candidate{CallID: "c1", Candidate: ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", SDPMLineIndex: ptr(uint16(0))}},
			`{"type":"candidate","call_id":"c1","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMLineIndex":0}}`},
		{"dtmf", DTMFEvent{CallID: "c1", Digit: "5"}, `{"type":"dtmf","call_id":"c1","digit":"5"}`},
		{"hangup without sip", HangupEvent{CallID: "c1", Reason: ReasonLocalHangup}, `{"type":"hangup","call_id":"c1","reason":"local_hangup"}`},
		{"hangup with sip", HangupEvent{CallID: "c1", Reason: ReasonBusy, SIPCode: 486, SIPReason: "Busy Here"},
			`{"type":"hangup","call_id":"c1","reason":"busy","sip_code":486,"sip_reason":"Busy Here"}`},
		{"error", ErrorReply{Code: CodeForbiddenNumber, Message: `number "+1900" denied`, CallID: "c1", Ref: "r"},
			`{"type":"error","code":"forbidden_number","message":"number \"+1900\" denied","call_id":"c1","ref":"r"}`},
		{"error plain", ErrorReply{Code: CodeOutOfOrder, Message: "authenticate first"}, `{"type":"error","code":"out_of_order","message":"authenticate first"}`},
		{"pong", Pong{}, `{"type":"pong"}`},
		{"html not escaped", ErrorReply{Code: CodeInternal, Message: "<&>"}, `{"type":"error","code":"internal","message":"<&>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.msg)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("Marshal =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestRoundTrip encodes one message of every type and decodes it with the
// decoder of its direction.
func TestRoundTrip(t *testing.T) {
	client := []Message{
		Auth{Version: 1, Token: "a.b.c", Ref: "1"},
		Auth{Version: 1, User: "alice", Password: "pw"},
		Dial{ID: "c1", To: "+15551234567", SDP: offerSDP, Ref: "2"},
		Accept{CallID: "in-1", SDP: offerSDP},
		Reject{CallID: "in-1"},
		Candidate{CallID: "c1", Candidate: ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", SDPMid: ptr("0"), UsernameFragment: ptr("u")}},
		DTMF{CallID: "c1", Digits: "12#"},
		Hold{CallID: "c1"},
		Resume{CallID: "c1"},
		Hangup{CallID: "c1", Ref: "x"},
		Ping{Ref: "p"},
		ICERestart{CallID: "c1", SDP: offerSDP, Ref: "r"},
		Transfer{CallID: "c1", To: "+15551234567", Ref: "t"},
	}
	server := []Message{
		Authenticated{Version: 1, User: "alice", MaxCalls: 3, ICEServers: []ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}},
		Answer{CallID: "c1", SDP: offerSDP},
		Ringing{CallID: "c1"},
		Progress{CallID: "c1"},
		Connected{CallID: "c1"},
		Incoming{CallID: "in-1", From: "+15550001111", FromName: "Zoë", To: "+15550002222"},
		Candidate{CallID: "c1", Candidate: ICECandidate{}},
		DTMFEvent{CallID: "c1", Digit: "D"},
		HangupEvent{CallID: "c1", Reason: ReasonNoAnswer, SIPCode: 480, SIPReason: "Temporarily Unavailable"},
		ErrorReply{Code: CodeTooManyCalls, Message: "limit 2", CallID: "c3"},
		Pong{Ref: "p"},
		Held{CallID: "c1"},
		Resumed{CallID: "c1"},
		Referred{CallID: "c1", To: "+15550199"},
		ICERestarted{CallID: "c1", SDP: offerSDP},
		ICEServers{ICEServers: []ICEServer{{URLs: []string{"turn:127.0.0.1:3478?transport=tcp"}, Username: "u", Credential: "c"}}},
		Extension{Extension: "201", Status: ExtensionForbidden, SIPCode: 403},
		Quality{CallID: "c1", Name: WarningHighLoss, Raised: true, Direction: "uplink", Value: 7.5, Threshold: 5},
	}
	// Every message type a decoder knows is in the lists: a type the
	// encoder's switch misses (an empty case falls through to nothing in
	// Go) fails here rather than on a browser.
	for _, side := range []struct {
		decoders map[Type]decodeFunc
		msgs     []Message
	}{{clientDecoders, client}, {serverDecoders, server}} {
		listed := map[Type]bool{}
		for _, m := range side.msgs {
			listed[m.MessageType()] = true
		}
		for typ := range side.decoders {
			if !listed[typ] {
				t.Errorf("message type %q has no round trip here", typ)
			}
		}
	}
	for _, side := range []struct {
		name   string
		msgs   []Message
		decode func([]byte) (Message, error)
		using  string // the decoder's name
	}{
		{"client", client, func(b []byte) (Message, error) { return Decode(b) }, "Decode"},
		{"server", server, DecodeServer, "DecodeServer"},
	} {
		for _, m := range side.msgs {
			t.Run(side.name+" "+string(m.MessageType()), func(t *testing.T) {
				b, err := Marshal(m)
				if err != nil {
					t.Fatalf("Marshal: %v", err)
				}
				if !bytes.HasPrefix(b, []byte(`{"type":"`+string(m.MessageType())+`"`)) {
					t.Fatalf("wire form %s does not start with its type", b)
				}
				got, err := side.decode(b)
				if err != nil {
					t.Fatalf("%s(%s): %v", side.using, b, err)
				}
				if !reflect.DeepEqual(got, m) {
					t.Fatalf("round trip = %#v, want %#v", got, m)
				}
			})
		}
	}
}

func TestMarshalUnknown(t *testing.T) {
	for _, m := range []Message{&Ping{}, nil} {
		if _, err := Marshal(m); !errors.Is(err, ErrUnknownMessage) {
			t.Fatalf("Marshal(%T) error = %v, want ErrUnknownMessage", m, err)
		}
	}
}

func TestEncoderReuse(t *testing.T) {
	var e Encoder
	first, err := e.Encode(Answer{CallID: "c1", SDP: strings.Repeat("x", 1000)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(first, []byte(`"}`)) {
		t.Fatalf("encoded message ends %q", first[len(first)-4:])
	}
	second, err := e.Encode(Ringing{CallID: "c2"})
	if err != nil {
		t.Fatal(err)
	}
	if string(second) != `{"type":"ringing","call_id":"c2"}` {
		t.Fatalf("second Encode = %s", second)
	}
}

// TestEncoderAllocations pins the steady-state cost of encoding the most
// frequent server messages with a reused Encoder.
func TestEncoderAllocations(t *testing.T) {
	var e Encoder
	msgs := []Message{
		HangupEvent{CallID: "c1", Reason: ReasonRemoteHangup, SIPCode: 200},
		DTMFEvent{CallID: "c1", Digit: "7"},
		Candidate{CallID: "c1", Candidate: ICECandidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", SDPMid: ptr("0")}},
		Answer{CallID: "c1", SDP: offerSDP},
	}
	for _, m := range msgs {
		if _, err := e.Encode(m); err != nil { // warm the buffer and type caches
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := e.Encode(m); err != nil {
				t.Fatal(err)
			}
		})
		// One allocation: the message boxed for the JSON encoder.
		if allocs > 1 {
			t.Errorf("Encode(%T) = %.0f allocations, want at most 1", m, allocs)
		}
	}
}

func BenchmarkEncoder(b *testing.B) {
	var e Encoder
	m := HangupEvent{CallID: "5f0c8a6e-3c1b-4f7e-9a51-2d8f0a7c4b11", Reason: ReasonBusy, SIPCode: 486, SIPReason: "Busy Here"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalAnswer(b *testing.B) {
	m := Answer{CallID: "5f0c8a6e-3c1b-4f7e-9a51-2d8f0a7c4b11", SDP: offerSDP}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCandidate(b *testing.B) {
	frame := []byte(`{"type":"candidate","call_id":"5f0c8a6e-3c1b-4f7e-9a51-2d8f0a7c4b11","candidate":{"candidate":"candidate:842163049 1 udp 1677729535 127.0.0.1 56143 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Vx3p network-cost 999","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"Vx3p"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDial(b *testing.B) {
	frame := []byte(`{"type":"dial","id":"5f0c8a6e-3c1b-4f7e-9a51-2d8f0a7c4b11","to":"+15551234567","sdp":` + quote(offerSDP) + `}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func TestICEServersFromConfig(t *testing.T) {
	got := ICEServersFromConfig([]config.ICEServer{
		{URLs: []string{"stun:stun.example.net:3478"}},
		{URLs: []string{"turn:turn.example.net:3478?transport=udp", "turns:turn.example.net:5349"}, Username: "u", Credential: config.NewSecret("turn-pass")},
	})
	want := []ICEServer{
		{URLs: []string{"stun:stun.example.net:3478"}},
		{URLs: []string{"turn:turn.example.net:3478?transport=udp", "turns:turn.example.net:5349"}, Username: "u", Credential: "turn-pass"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ICEServersFromConfig = %+v, want %+v", got, want)
	}
	b, err := Marshal(Authenticated{Version: Version, User: "a", ICEServers: ICEServersFromConfig(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"ice_servers":[]`)) {
		t.Fatalf("no servers encode as %s, want an empty array", b)
	}
}
