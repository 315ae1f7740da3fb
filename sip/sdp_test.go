package sip

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/telephony"
)

// sdpLines joins lines with CRLF as SIP peers send them.
func sdpLines(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// carrierOffer is the kind of offer an SBC of a carrier sends: A-law first,
// G.729 we do not speak, telephone-event at 101 with events 0-15.
var carrierOffer = sdpLines(
	"v=0",
	"o=SBC_UAC 381924 381925 IN IP4 203.0.113.10",
	"s=SIP Media Capabilities",
	"c=IN IP4 203.0.113.10",
	"t=0 0",
	"m=audio 20000 RTP/AVP 8 0 18 101",
	"a=rtpmap:8 PCMA/8000",
	"a=rtpmap:0 PCMU/8000",
	"a=rtpmap:18 G729/8000",
	"a=fmtp:18 annexb=no",
	"a=rtpmap:101 telephone-event/8000",
	"a=fmtp:101 0-15",
	"a=sendrecv",
	"a=maxptime:20",
	"a=ptime:20",
)

// asteriskOffer resembles an Asterisk PBX: static types without a=rtpmap
// for PCMA, GSM, ptime 20 and a large maxptime.
var asteriskOffer = sdpLines(
	"v=0",
	"o=- 1672531200 1672531201 IN IP4 192.0.2.20",
	"s=Asterisk",
	"c=IN IP4 192.0.2.20",
	"t=0 0",
	"m=audio 10078 RTP/AVP 0 8 3 101",
	"a=rtpmap:0 PCMU/8000",
	"a=rtpmap:3 GSM/8000",
	"a=rtpmap:101 telephone-event/8000",
	"a=fmtp:101 0-16",
	"a=ptime:20",
	"a=maxptime:150",
	"a=sendrecv",
)

// freeswitchOffer resembles FreeSWITCH: Opus and G.722 first, DTMF at 96,
// comfort noise, an explicit a=rtcp with address, ptime 30.
var freeswitchOffer = sdpLines(
	"v=0",
	"o=FreeSWITCH 1700000000 1700000001 IN IP4 198.51.100.7",
	"s=FreeSWITCH",
	"c=IN IP4 198.51.100.7",
	"t=0 0",
	"m=audio 16384 RTP/AVP 102 9 0 8 96 13",
	"a=rtpmap:102 opus/48000/2",
	"a=fmtp:102 useinbandfec=1; maxplaybackrate=16000",
	"a=rtpmap:9 G722/8000",
	"a=rtpmap:0 PCMU/8000",
	"a=rtpmap:8 PCMA/8000",
	"a=rtpmap:96 telephone-event/8000",
	"a=fmtp:96 0-16",
	"a=rtpmap:13 CN/8000",
	"a=ptime:30",
	"a=rtcp:16390 IN IP4 198.51.100.8",
)

// webrtcStyleOffer has an SRTP audio stream first, then plain RTP over
// IPv6 with a media-level c= overriding the session one, and rtcp-mux.
var ipv6Offer = sdpLines(
	"v=0",
	"o=pbx 5 6 IN IP6 2001:db8::1",
	"s=-",
	"c=IN IP6 2001:db8::1",
	"t=0 0",
	"m=audio 30000 RTP/SAVP 0",
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
	"m=audio 30002 RTP/AVP 97 0 98",
	"c=IN IP6 2001:db8::2",
	"a=rtpmap:97 pcmu/8000",
	"a=rtpmap:98 telephone-event/8000",
	"a=rtcp-mux",
	"a=recvonly",
)

func TestParseSDP(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want MediaDescription
	}{
		{
			name: "carrier",
			body: carrierOffer,
			want: MediaDescription{
				Addr:             netip.MustParseAddrPort("203.0.113.10:20000"),
				Codecs:           []telephony.Codec{telephony.PCMA, telephony.PCMU},
				TelephoneEventPT: 101,
				PtimeMs:          20,
				Direction:        SendRecv,
				RTCPAddr:         netip.MustParseAddrPort("203.0.113.10:20001"),
			},
		},
		{
			name: "asterisk static types without rtpmap",
			body: asteriskOffer,
			want: MediaDescription{
				Addr:             netip.MustParseAddrPort("192.0.2.20:10078"),
				Codecs:           []telephony.Codec{telephony.PCMU, telephony.PCMA},
				TelephoneEventPT: 101,
				PtimeMs:          20,
				Direction:        SendRecv,
				RTCPAddr:         netip.MustParseAddrPort("192.0.2.20:10079"),
			},
		},
		{
			name: "freeswitch dynamic telephone-event and a=rtcp with address",
			body: freeswitchOffer,
			want: MediaDescription{
				Addr:             netip.MustParseAddrPort("198.51.100.7:16384"),
				Codecs:           []telephony.Codec{telephony.PCMU, telephony.PCMA},
				TelephoneEventPT: 96,
				PtimeMs:          30,
				Direction:        SendRecv,
				RTCPAddr:         netip.MustParseAddrPort("198.51.100.8:16390"),
			},
		},
		{
			name: "ipv6 media-level c= after an SRTP stream, dynamic PCMU, rtcp-mux",
			body: ipv6Offer,
			want: MediaDescription{
				Addr:             netip.MustParseAddrPort("[2001:db8::2]:30002"),
				Codecs:           []telephony.Codec{telephony.PCMU.WithPayloadType(97)},
				TelephoneEventPT: 98,
				Direction:        RecvOnly,
				RTCPMux:          true,
				RTCPAddr:         netip.MustParseAddrPort("[2001:db8::2]:30002"),
			},
		},
		{
			name: "video first, rejected audio, then the used audio with a=rtcp port only",
			body: sdpLines(
				"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0",
				"m=video 40000 RTP/AVP 96", "c=IN IP4 192.0.2.1", "a=rtpmap:96 H264/90000",
				"m=audio 0 RTP/AVP 0", "c=IN IP4 192.0.2.1",
				"m=audio 40002 RTP/AVP 8", "c=IN IP4 192.0.2.3", "a=rtcp:40009",
			),
			want: MediaDescription{
				Addr:      netip.MustParseAddrPort("192.0.2.3:40002"),
				Codecs:    []telephony.Codec{telephony.PCMA},
				Direction: SendRecv,
				RTCPAddr:  netip.MustParseAddrPort("192.0.2.3:40009"),
			},
		},
		{
			name: "session-level direction, telephone-event only at 16 kHz, unreadable ptime",
			body: sdpLines(
				"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"a=sendonly",
				"m=audio 5004 RTP/AVP 0 100", "a=rtpmap:100 telephone-event/16000", "a=ptime:twenty",
			),
			want: MediaDescription{
				Addr:      netip.MustParseAddrPort("192.0.2.1:5004"),
				Codecs:    []telephony.Codec{telephony.PCMU},
				Direction: SendOnly,
				RTCPAddr:  netip.MustParseAddrPort("192.0.2.1:5005"),
			},
		},
		{
			name: "media-level direction overrides session-level, session-level ptime",
			body: sdpLines(
				"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"a=inactive", "a=ptime:40",
				"m=audio 5004 RTP/AVP 8", "a=sendrecv",
			),
			want: MediaDescription{
				Addr:      netip.MustParseAddrPort("192.0.2.1:5004"),
				Codecs:    []telephony.Codec{telephony.PCMA},
				PtimeMs:   40,
				Direction: SendRecv,
				RTCPAddr:  netip.MustParseAddrPort("192.0.2.1:5005"),
			},
		},
		{
			name: "codec listed twice and stereo PCMU are kept once, mono",
			body: sdpLines(
				"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"m=audio 5004 RTP/AVP 110 0 111", "a=rtpmap:110 PCMU/8000/2", "a=rtpmap:111 PCMU/8000",
			),
			want: MediaDescription{
				Addr:      netip.MustParseAddrPort("192.0.2.1:5004"),
				Codecs:    []telephony.Codec{telephony.PCMU},
				Direction: SendRecv,
				RTCPAddr:  netip.MustParseAddrPort("192.0.2.1:5005"),
			},
		},
		{
			name: "no codec we speak parses with empty codecs",
			body: sdpLines(
				"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"m=audio 5004 RTP/AVP 18", "a=rtpmap:18 G729/8000",
			),
			want: MediaDescription{
				Addr:      netip.MustParseAddrPort("192.0.2.1:5004"),
				Direction: SendRecv,
				RTCPAddr:  netip.MustParseAddrPort("192.0.2.1:5005"),
			},
		},
		{
			name: "LF line endings",
			body: []byte("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n"),
			want: MediaDescription{
				Addr:      netip.MustParseAddrPort("192.0.2.1:5004"),
				Codecs:    []telephony.Codec{telephony.PCMU},
				Direction: SendRecv,
				RTCPAddr:  netip.MustParseAddrPort("192.0.2.1:5005"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSDP(tt.body)
			if err != nil {
				t.Fatalf("ParseSDP: %v", err)
			}
			assertMedia(t, got, tt.want)
		})
	}
}

// assertMedia compares two MediaDescriptions field by field.
func assertMedia(t *testing.T, got, want MediaDescription) {
	t.Helper()
	if got.Addr != want.Addr {
		t.Errorf("Addr = %v, want %v", got.Addr, want.Addr)
	}
	if !slices.Equal(got.Codecs, want.Codecs) {
		t.Errorf("Codecs = %v, want %v", got.Codecs, want.Codecs)
	}
	if got.TelephoneEventPT != want.TelephoneEventPT {
		t.Errorf("TelephoneEventPT = %d, want %d", got.TelephoneEventPT, want.TelephoneEventPT)
	}
	if got.PtimeMs != want.PtimeMs {
		t.Errorf("PtimeMs = %d, want %d", got.PtimeMs, want.PtimeMs)
	}
	if got.Direction != want.Direction {
		t.Errorf("Direction = %v, want %v", got.Direction, want.Direction)
	}
	if got.RTCPMux != want.RTCPMux {
		t.Errorf("RTCPMux = %v, want %v", got.RTCPMux, want.RTCPMux)
	}
	if got.RTCPAddr != want.RTCPAddr {
		t.Errorf("RTCPAddr = %v, want %v", got.RTCPAddr, want.RTCPAddr)
	}
}

func TestParseSDPHold(t *testing.T) {
	base := func(c, dir string) []byte {
		lines := []string{"v=0", "o=- 1 2 IN IP4 192.0.2.9", "s=-", "c=IN IP4 " + c, "t=0 0", "m=audio 7078 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"}
		if dir != "" {
			lines = append(lines, "a="+dir)
		}
		return sdpLines(lines...)
	}
	tests := []struct {
		name     string
		body     []byte
		wantDir  Direction
		wantHold bool
	}{
		{"resume sendrecv", base("192.0.2.9", "sendrecv"), SendRecv, false},
		{"no attribute is sendrecv", base("192.0.2.9", ""), SendRecv, false},
		{"sendonly", base("192.0.2.9", "sendonly"), SendOnly, true},
		{"inactive", base("192.0.2.9", "inactive"), Inactive, true},
		{"recvonly is not hold", base("192.0.2.9", "recvonly"), RecvOnly, false},
		{"c=0.0.0.0", base("0.0.0.0", ""), SendRecv, true},
		{"c=0.0.0.0 and sendonly", base("0.0.0.0", "sendonly"), SendOnly, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseSDP(tt.body)
			if err != nil {
				t.Fatalf("ParseSDP: %v", err)
			}
			if m.Direction != tt.wantDir || m.OnHold() != tt.wantHold {
				t.Errorf("Direction %v OnHold %v, want %v %v", m.Direction, m.OnHold(), tt.wantDir, tt.wantHold)
			}
			if m.Addr.Port() != 7078 || !slices.Equal(m.Codecs, []telephony.Codec{telephony.PCMU}) || m.TelephoneEventPT != 101 {
				t.Errorf("stream lost on hold: %+v", m)
			}
		})
	}
}

func TestParseSDPErrors(t *testing.T) {
	head := []string{"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-"}
	body := func(lines ...string) []byte { return sdpLines(append(slices.Clone(head), lines...)...) }
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, ErrSDPMalformed},
		{"not sdp", []byte("hello world"), ErrSDPMalformed},
		{"json", []byte(`{"type":"offer"}`), ErrSDPMalformed},
		{"version 1", []byte("v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"), ErrSDPMalformed},
		{"no t= line", body("c=IN IP4 192.0.2.1", "m=audio 5004 RTP/AVP 0"), ErrSDPMalformed},
		{"no c= anywhere", body("t=0 0", "m=audio 5004 RTP/AVP 0"), ErrSDPMalformed},
		{"c= host name", body("c=IN IP4 pbx.example.net", "t=0 0", "m=audio 5004 RTP/AVP 0"), ErrSDPMalformed},
		{"c= IP6 address with IP4 type", body("c=IN IP4 2001:db8::1", "t=0 0", "m=audio 5004 RTP/AVP 0"), ErrSDPMalformed},
		{"c= IP4 address with IP6 type", body("c=IN IP6 192.0.2.1", "t=0 0", "m=audio 5004 RTP/AVP 0"), ErrSDPMalformed},
		{"c= with zone", body("c=IN IP6 fe80::1%eth0", "t=0 0", "m=audio 5004 RTP/AVP 0"), ErrSDPMalformed},
		{"port not a number", body("c=IN IP4 192.0.2.1", "t=0 0", "m=audio five RTP/AVP 0"), ErrSDPMalformed},
		{"port too large", body("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 70000 RTP/AVP 0"), ErrSDPMalformed},
		{"format not a payload type", body("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 5004 RTP/AVP PCMU"), ErrSDPMalformed},
		{"payload type above 127", body("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 5004 RTP/AVP 128"), ErrSDPMalformed},
		{"a=rtcp not a port", body("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 5004 RTP/AVP 0", "a=rtcp:x"), ErrSDPMalformed},
		{"a=rtcp bad address", body("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 5004 RTP/AVP 0", "a=rtcp:5005 IN IP4 nowhere"), ErrSDPMalformed},
		{"no m= line", body("c=IN IP4 192.0.2.1", "t=0 0"), ErrNoAudio},
		{"video only", body("c=IN IP4 192.0.2.1", "t=0 0", "m=video 5004 RTP/AVP 96"), ErrNoAudio},
		{"audio rejected with port 0", body("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 0 RTP/AVP 0"), ErrNoAudio},
		{"audio over SRTP only", body("c=IN IP4 192.0.2.1", "t=0 0", "m=audio 5004 RTP/SAVP 0"), ErrNoAudio},
		{"multicast", body("c=IN IP4 233.252.0.1", "t=0 0", "m=audio 5004 RTP/AVP 0"), ErrNoAudio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseSDP(tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseSDP = %+v, %v; want error %v", m, err, tt.want)
			}
		})
	}
}

func TestParseSDPTruncated(t *testing.T) {
	full := string(sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", "m=audio 5004 RTP/AVP 0"))
	// Every cut before the end of the t= line is malformed; after it the
	// body is a valid description without (or with) audio.
	tEnd := strings.Index(full, "t=0 0") + len("t=0 0")
	for i := 0; i < len(full); i++ {
		_, err := ParseSDP([]byte(full[:i]))
		switch {
		case i < tEnd && !errors.Is(err, ErrSDPMalformed):
			t.Errorf("cut at %d (%q): err = %v, want ErrSDPMalformed", i, full[:i], err)
		case i >= tEnd && err != nil && !errors.Is(err, ErrNoAudio) && !errors.Is(err, ErrSDPMalformed):
			t.Errorf("cut at %d: unexpected error %v", i, err)
		}
	}
}

func TestDirectionString(t *testing.T) {
	for d, want := range map[Direction]string{SendRecv: "sendrecv", SendOnly: "sendonly", RecvOnly: "recvonly", Inactive: "inactive", Direction(7): "Direction(7)"} {
		if got := d.String(); got != want {
			t.Errorf("Direction(%d).String() = %q, want %q", int(d), got, want)
		}
	}
}

func TestCodecByName(t *testing.T) {
	tests := []struct {
		name   string
		want   telephony.Codec
		wantOK bool
	}{
		{"PCMU", telephony.PCMU, true},
		{"pcmu", telephony.PCMU, true},
		{"PcMa", telephony.PCMA, true},
		{"G729", telephony.Codec{}, false},
		{"", telephony.Codec{}, false},
		{"PCMU/8000", telephony.Codec{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := telephony.G711ByName(tt.name)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("telephony.G711ByName(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if s := telephony.PCMA.String(); s != "PCMA/8000 pt 8" {
		t.Errorf("PCMA.String() = %q", s)
	}
}
