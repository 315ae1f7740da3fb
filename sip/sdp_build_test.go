package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/telephony"
)

func TestBuildOfferRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    SDPParams
		want MediaDescription
	}{
		{
			name: "ipv4 PCMU PCMA telephone-event ptime 20",
			p: SDPParams{
				Addr: netip.MustParseAddrPort("192.0.2.50:10000"), SessionID: 42, SessionVersion: 1,
				Codecs: []telephony.Codec{telephony.PCMU, telephony.PCMA}, TelephoneEventPT: 101, PtimeMs: 20, UserAgent: "Webtrunk",
			},
			want: MediaDescription{
				Addr: netip.MustParseAddrPort("192.0.2.50:10000"), Codecs: []telephony.Codec{telephony.PCMU, telephony.PCMA},
				TelephoneEventPT: 101, PtimeMs: 20, Direction: SendRecv,
				RTCPAddr: netip.MustParseAddrPort("192.0.2.50:10001"),
			},
		},
		{
			name: "ipv6 PCMA only, no telephone-event, sendonly hold",
			p: SDPParams{
				Addr: netip.MustParseAddrPort("[2001:db8::50]:10002"), SessionID: 7, SessionVersion: 3,
				Codecs: []telephony.Codec{telephony.PCMA}, Direction: SendOnly,
			},
			want: MediaDescription{
				Addr: netip.MustParseAddrPort("[2001:db8::50]:10002"), Codecs: []telephony.Codec{telephony.PCMA},
				Direction: SendOnly, RTCPAddr: netip.MustParseAddrPort("[2001:db8::50]:10003"),
			},
		},
		{
			name: "old-style hold address, telephone-event 96, v4-mapped address written as IPv4",
			p: SDPParams{
				Addr: netip.MustParseAddrPort("[::ffff:0.0.0.0]:10004"), Codecs: []telephony.Codec{telephony.PCMA, telephony.PCMU},
				TelephoneEventPT: 96, Direction: Inactive,
			},
			want: MediaDescription{
				Addr: netip.MustParseAddrPort("0.0.0.0:10004"), Codecs: []telephony.Codec{telephony.PCMA, telephony.PCMU},
				TelephoneEventPT: 96, Direction: Inactive, RTCPAddr: netip.MustParseAddrPort("0.0.0.0:10005"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := BuildOffer(tt.p)
			if err != nil {
				t.Fatalf("BuildOffer: %v", err)
			}
			got, err := ParseSDP(body)
			if err != nil {
				t.Fatalf("ParseSDP of our offer: %v\n%s", err, body)
			}
			assertMedia(t, got, tt.want)
		})
	}
}

func TestBuildOfferText(t *testing.T) {
	body, err := BuildOffer(SDPParams{
		Addr: netip.MustParseAddrPort("192.0.2.50:10000"), SessionID: 42, SessionVersion: 1,
		Codecs: []telephony.Codec{telephony.PCMU, telephony.PCMA}, TelephoneEventPT: 101, PtimeMs: 20, UserAgent: "Webtrunk",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sdpLines(
		"v=0",
		"o=- 42 1 IN IP4 192.0.2.50",
		"s=Webtrunk",
		"c=IN IP4 192.0.2.50",
		"t=0 0",
		"m=audio 10000 RTP/AVP 0 8 101",
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:8 PCMA/8000",
		"a=rtpmap:101 telephone-event/8000",
		"a=fmtp:101 0-16",
		"a=ptime:20",
		"a=sendrecv",
	)
	if string(body) != string(want) {
		t.Errorf("offer:\n%s\nwant:\n%s", body, want)
	}
}

func TestBuildOfferErrors(t *testing.T) {
	ok := SDPParams{Addr: netip.MustParseAddrPort("192.0.2.50:10000"), Codecs: []telephony.Codec{telephony.PCMU}, TelephoneEventPT: 101}
	tests := []struct {
		name   string
		change func(p *SDPParams)
	}{
		{"no codec", func(p *SDPParams) { p.Codecs = nil }},
		{"no address", func(p *SDPParams) { p.Addr = netip.AddrPort{} }},
		{"port 0", func(p *SDPParams) { p.Addr = netip.MustParseAddrPort("192.0.2.50:0") }},
		{"unknown codec", func(p *SDPParams) { p.Codecs = []telephony.Codec{{Name: "G729", PayloadType: 18, ClockRate: 8000}} }},
		{"wrong clock rate", func(p *SDPParams) { p.Codecs = []telephony.Codec{{Name: "PCMU", PayloadType: 0, ClockRate: 16000}} }},
		{"payload type used twice", func(p *SDPParams) {
			p.Codecs = []telephony.Codec{telephony.PCMA, {Name: "PCMU", PayloadType: 8, ClockRate: 8000}}
		}},
		{"telephone-event on a codec's payload type", func(p *SDPParams) {
			p.Codecs = []telephony.Codec{telephony.PCMU, telephony.PCMA}
			p.TelephoneEventPT = 8
		}},
		{"payload type above 127", func(p *SDPParams) { p.TelephoneEventPT = 200 }},
		{"payload type reserved for RTCP", func(p *SDPParams) { p.TelephoneEventPT = 72 }},
		{"invalid direction", func(p *SDPParams) { p.Direction = Direction(9) }},
		{"negative ptime", func(p *SDPParams) { p.PtimeMs = -20 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.change(&p)
			body, err := BuildOffer(p)
			if !errors.Is(err, ErrSDPParams) {
				t.Errorf("BuildOffer = %q, %v; want ErrSDPParams", body, err)
			}
		})
	}
	if _, err := BuildOffer(ok); err != nil {
		t.Errorf("baseline BuildOffer: %v", err)
	}
}

func TestBuildAnswer(t *testing.T) {
	ours := SDPParams{
		Addr: netip.MustParseAddrPort("192.0.2.50:10000"), SessionID: 9, SessionVersion: 9,
		Codecs: []telephony.Codec{telephony.PCMU, telephony.PCMA}, TelephoneEventPT: 101, PtimeMs: 20,
	}
	offerWith := func(c, dir string) MediaDescription {
		t.Helper()
		m, err := ParseSDP(sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.9", "s=-", "c=IN IP4 "+c, "t=0 0",
			"m=audio 7078 RTP/AVP 8 97 96", "a=rtpmap:97 PCMU/8000", "a=rtpmap:96 telephone-event/8000", "a="+dir))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name    string
		offer   MediaDescription
		ourDir  Direction
		noTE    bool
		wantDir Direction
	}{
		{"sendrecv", offerWith("192.0.2.9", "sendrecv"), SendRecv, false, SendRecv},
		{"hold with sendonly", offerWith("192.0.2.9", "sendonly"), SendRecv, false, RecvOnly},
		{"recvonly", offerWith("192.0.2.9", "recvonly"), SendRecv, false, SendOnly},
		{"inactive", offerWith("192.0.2.9", "inactive"), SendRecv, false, Inactive},
		{"old-style hold c=0.0.0.0", offerWith("0.0.0.0", "sendrecv"), SendRecv, false, RecvOnly},
		{"we hold: sendrecv offer, we only send", offerWith("192.0.2.9", "sendrecv"), SendOnly, false, SendOnly},
		{"we hold and they hold", offerWith("192.0.2.9", "sendonly"), SendOnly, false, Inactive},
		{"we do not accept telephone-event", offerWith("192.0.2.9", "sendrecv"), SendRecv, true, SendRecv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ours
			p.Direction = tt.ourDir
			if tt.noTE {
				p.TelephoneEventPT = 0
			}
			body, err := BuildAnswer(tt.offer, p)
			if err != nil {
				t.Fatalf("BuildAnswer: %v", err)
			}
			got, err := ParseSDP(body)
			if err != nil {
				t.Fatalf("ParseSDP of our answer: %v\n%s", err, body)
			}
			want := MediaDescription{
				Addr: ours.Addr, Codecs: []telephony.Codec{telephony.PCMU.WithPayloadType(97)},
				TelephoneEventPT: 96, PtimeMs: 20, Direction: tt.wantDir,
				RTCPAddr: netip.MustParseAddrPort("192.0.2.50:10001"),
			}
			if tt.noTE {
				want.TelephoneEventPT = 0
			}
			assertMedia(t, got, want)
		})
	}
}

func TestBuildAnswerNoCommonCodec(t *testing.T) {
	offer, err := ParseSDP(sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.9", "s=-", "c=IN IP4 192.0.2.9", "t=0 0",
		"m=audio 7078 RTP/AVP 18 9 101", "a=rtpmap:18 G729/8000", "a=rtpmap:101 telephone-event/8000"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := BuildAnswer(offer, SDPParams{Addr: netip.MustParseAddrPort("192.0.2.50:10000"), Codecs: []telephony.Codec{telephony.PCMU, telephony.PCMA}, TelephoneEventPT: 101})
	if !errors.Is(err, ErrNoCommonCodec) || body != nil {
		t.Errorf("BuildAnswer = %q, %v; want ErrNoCommonCodec", body, err)
	}
}

// FuzzParseSDP feeds arbitrary bodies to ParseSDP. It must never panic, fail
// only with its two documented errors, and what it accepts must be a stream
// we can answer: the answer we build parses back to the negotiated codec.
func FuzzParseSDP(f *testing.F) {
	for _, seed := range [][]byte{carrierOffer, asteriskOffer, freeswitchOffer, ipv6Offer, nil,
		sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 1 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=inactive", "a=rtcp:65535"),
		sdpLines("v=0", "o=- 1 1 IN IP6 ::1", "s=-", "t=0 0", "m=audio 65535 RTP/AVPF 127", "c=IN IP6 ::1", "a=rtpmap:127 PCMA/8000", "a=rtcp-mux"),
	} {
		f.Add(seed)
	}
	ours := SDPParams{Addr: netip.MustParseAddrPort("127.0.0.1:10000"), Codecs: []telephony.Codec{telephony.PCMU, telephony.PCMA}, TelephoneEventPT: 101, PtimeMs: 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseSDP(body)
		if err != nil {
			if !errors.Is(err, ErrSDPMalformed) && !errors.Is(err, ErrNoAudio) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if !m.Addr.IsValid() || m.Addr.Port() == 0 || m.Addr.Addr().Is4In6() || m.Addr.Addr().IsMulticast() {
			t.Fatalf("accepted address %v", m.Addr)
		}
		if !m.RTCPAddr.IsValid() || (m.RTCPMux && m.RTCPAddr != m.Addr) {
			t.Fatalf("RTCP address %v (mux %v) for %v", m.RTCPAddr, m.RTCPMux, m.Addr)
		}
		if m.Direction < SendRecv || m.Direction > Inactive || m.PtimeMs < 0 || m.PtimeMs > maxPtimeMs {
			t.Fatalf("direction %v ptime %d", m.Direction, m.PtimeMs)
		}
		for i, c := range m.Codecs {
			known, ok := telephony.G711ByName(c.Name)
			if !ok || known.Name != c.Name || c.ClockRate != known.ClockRate || c.PayloadType > 127 ||
				(m.TelephoneEventPT != 0 && c.PayloadType == m.TelephoneEventPT) || hasFormat(m.Codecs[:i], c) {
				t.Fatalf("codec %d: %v in %v (telephone-event %d)", i, c, m.Codecs, m.TelephoneEventPT)
			}
		}
		if len(m.Codecs) == 0 {
			if _, err := BuildAnswer(m, ours); !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("BuildAnswer without codecs: %v", err)
			}
			return
		}
		checkAnswer(t, m, ours)
	})
}

// checkAnswer builds our answer to the offer m with ours (RFC 3264 section
// 6.1) and fails unless it parses back to exactly the codec and the
// telephone-event payload type Negotiate picks, or, when Negotiate finds
// no common codec, unless BuildAnswer refuses with ErrNoCommonCodec.
func checkAnswer(t *testing.T, m MediaDescription, ours SDPParams) {
	t.Helper()
	answer, err := BuildAnswer(m, ours)
	want, te, nerr := Negotiate(m, ours.Codecs)
	if nerr != nil {
		if !errors.Is(err, ErrNoCommonCodec) {
			t.Fatalf("BuildAnswer without a common codec: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("BuildAnswer: %v", err)
	}
	back, err := ParseSDP(answer)
	if err != nil {
		t.Fatalf("our answer does not parse: %v\n%s", err, answer)
	}
	if len(back.Codecs) != 1 || back.Codecs[0] != want || back.TelephoneEventPT != te {
		t.Fatalf("answer %v te %d, negotiated %v te %d\n%s", back.Codecs, back.TelephoneEventPT, want, te, answer)
	}
}

// TestBuildOfferUserAgentInjection checks that a configured user agent
// name cannot add lines to the SDP.
func TestBuildOfferUserAgentInjection(t *testing.T) {
	body, err := BuildOffer(SDPParams{
		Addr: netip.MustParseAddrPort("192.0.2.50:10000"), Codecs: []telephony.Codec{telephony.PCMU},
		UserAgent: "Webtrunk\r\na=inactive",
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseSDP(body)
	if err != nil {
		t.Fatal(err)
	}
	if m.Direction != SendRecv || strings.Contains(string(body), "inactive") || !strings.Contains(string(body), "\r\ns=-\r\n") {
		t.Errorf("user agent leaked into the SDP:\n%s", body)
	}
}

func TestNegotiate(t *testing.T) {
	dynPCMU := telephony.PCMU.WithPayloadType(97)
	tests := []struct {
		name    string
		offered []telephony.Codec
		te      uint8
		ours    []telephony.Codec
		want    telephony.Codec
		wantTE  uint8
		wantErr error
	}{
		{"our order wins over the offer's", []telephony.Codec{telephony.PCMA, telephony.PCMU}, 101, []telephony.Codec{telephony.PCMU, telephony.PCMA}, telephony.PCMU, 101, nil},
		{"offer order irrelevant the other way", []telephony.Codec{telephony.PCMU, telephony.PCMA}, 0, []telephony.Codec{telephony.PCMA, telephony.PCMU}, telephony.PCMA, 0, nil},
		{"only common codec", []telephony.Codec{telephony.PCMA}, 96, []telephony.Codec{telephony.PCMU, telephony.PCMA}, telephony.PCMA, 96, nil},
		{"offer's dynamic payload type kept", []telephony.Codec{dynPCMU}, 0, []telephony.Codec{telephony.PCMA, telephony.PCMU}, dynPCMU, 0, nil},
		{"name case-insensitive", []telephony.Codec{{Name: "pcma", PayloadType: 8, ClockRate: 8000}}, 0, []telephony.Codec{telephony.PCMA}, telephony.Codec{Name: "pcma", PayloadType: 8, ClockRate: 8000}, 0, nil},
		{"nothing in common", []telephony.Codec{telephony.PCMU}, 101, []telephony.Codec{telephony.PCMA}, telephony.Codec{}, 0, ErrNoCommonCodec},
		{"empty offer", nil, 101, []telephony.Codec{telephony.PCMU, telephony.PCMA}, telephony.Codec{}, 0, ErrNoCommonCodec},
		{"no codecs of ours", []telephony.Codec{telephony.PCMU}, 0, nil, telephony.Codec{}, 0, ErrNoCommonCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, te, err := Negotiate(MediaDescription{Codecs: tt.offered, TelephoneEventPT: tt.te}, tt.ours)
			if !errors.Is(err, tt.wantErr) || c != tt.want || te != tt.wantTE {
				t.Errorf("Negotiate = %v, %d, %v; want %v, %d, %v", c, te, err, tt.want, tt.wantTE, tt.wantErr)
			}
		})
	}
}

func TestNegotiateRealOffers(t *testing.T) {
	ours := []telephony.Codec{telephony.PCMU, telephony.PCMA}
	for _, tt := range []struct {
		name   string
		body   []byte
		want   telephony.Codec
		wantTE uint8
	}{
		{"carrier prefers PCMA, we PCMU", carrierOffer, telephony.PCMU, 101},
		{"freeswitch telephone-event 96", freeswitchOffer, telephony.PCMU, 96},
		{"ipv6 dynamic PCMU", ipv6Offer, telephony.PCMU.WithPayloadType(97), 98},
	} {
		t.Run(tt.name, func(t *testing.T) {
			offer, err := ParseSDP(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			c, te, err := Negotiate(offer, ours)
			if err != nil || c != tt.want || te != tt.wantTE {
				t.Errorf("Negotiate = %v, %d, %v; want %v, %d", c, te, err, tt.want, tt.wantTE)
			}
		})
	}
}
