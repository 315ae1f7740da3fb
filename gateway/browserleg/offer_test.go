package browserleg

import (
	"errors"
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/gateway/browser"
	"github.com/webtrunk/webtrunk/telephony"
)

// offerSDP builds a browser offer with one media section m (the m= line
// without "m=") and its attribute lines.
func offerSDP(m string, attrs ...string) string {
	lines := []string{
		"v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
		"a=group:BUNDLE 0", "a=fingerprint:sha-256 " + strings.Repeat("AB:", 31) + "AB",
		"m=" + m, "c=IN IP4 0.0.0.0", "a=mid:0", "a=ice-ufrag:abcd", "a=ice-pwd:0123456789012345678901", "a=sendrecv",
	}
	lines = append(lines, attrs...)

	return strings.Join(lines, "\r\n") + "\r\n"
}

// sessionLevelICE moves an offer's ICE credentials to the session level,
// where Firefox writes them.
func sessionLevelICE(offer string) string {
	offer = strings.Replace(offer, "a=ice-ufrag:abcd\r\n", "", 1)
	offer = strings.Replace(offer, "a=ice-pwd:0123456789012345678901\r\n", "", 1)

	return strings.Replace(offer, "t=0 0", "t=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901", 1)
}

func TestParseOffer(t *testing.T) {
	chromium := offerSDP("audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
		"a=rtpmap:111 opus/48000/2", "a=rtpmap:63 red/48000/2", "a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000",
		"a=rtpmap:8 PCMA/8000", "a=rtpmap:13 CN/8000", "a=rtpmap:110 telephone-event/48000", "a=rtpmap:126 telephone-event/8000")
	te := func(clock int, pt uint8) telephony.Codec {
		return telephony.Codec{Name: "telephone-event", ClockRate: clock, Channels: 1, PayloadType: pt}
	}
	tests := []struct {
		name      string
		sdp       string
		wantAudio telephony.Codec
		wantEvent telephony.Codec
		wantErr   error
	}{
		{"chromium", chromium, telephony.Opus.WithPayloadType(111), te(48000, 110), nil},
		{"g711 only", offerSDP("audio 9 UDP/TLS/RTP/SAVPF 8 0 101", "a=rtpmap:101 telephone-event/8000"),
			telephony.PCMA.WithPayloadType(8), te(8000, 101), nil},
		{"opus with 8k events only", offerSDP("audio 9 UDP/TLS/RTP/SAVPF 96 97", "a=rtpmap:96 opus/48000/2", "a=rtpmap:97 telephone-event/8000"),
			telephony.Opus.WithPayloadType(96), te(8000, 97), nil},
		{"no dtmf", offerSDP("audio 9 UDP/TLS/RTP/SAVPF 0"), telephony.PCMU.WithPayloadType(0), telephony.Codec{}, nil},
		{"unknown codecs", offerSDP("audio 9 UDP/TLS/RTP/SAVPF 9", "a=rtpmap:9 G722/8000"), telephony.Codec{}, telephony.Codec{}, browser.ErrNoCommonCodec},
		{"video only", offerSDP("video 9 UDP/TLS/RTP/SAVPF 96", "a=rtpmap:96 VP8/90000"), telephony.Codec{}, telephony.Codec{}, browser.ErrNoCommonCodec},
		{"rejected audio", offerSDP("audio 0 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2"), telephony.Codec{}, telephony.Codec{}, browser.ErrNoCommonCodec},
		{"garbage", "hello", telephony.Codec{}, telephony.Codec{}, browser.ErrBadOffer},
		{"1-character ufrag", strings.Replace(chromium, "a=ice-ufrag:abcd", "a=ice-ufrag:a", 1), telephony.Codec{}, telephony.Codec{}, browser.ErrBadOffer},
		{"short password", strings.Replace(chromium, "a=ice-pwd:0123456789012345678901", "a=ice-pwd:0123", 1), telephony.Codec{}, telephony.Codec{}, browser.ErrBadOffer},
		{"ufrag with a space", strings.Replace(chromium, "a=ice-ufrag:abcd", "a=ice-ufrag:ab cd", 1), telephony.Codec{}, telephony.Codec{}, browser.ErrBadOffer},
		{"no ufrag", strings.Replace(chromium, "a=ice-ufrag:abcd\r\n", "", 1), telephony.Codec{}, telephony.Codec{}, browser.ErrBadOffer},
		{"ICE credentials at session level", sessionLevelICE(chromium), telephony.Opus.WithPayloadType(111), te(48000, 110), nil},
		{"inactive", strings.Replace(chromium, "a=sendrecv", "a=inactive", 1), telephony.Codec{}, telephony.Codec{}, browser.ErrBadOffer},
		{"recvonly", strings.Replace(chromium, "a=sendrecv", "a=recvonly", 1), telephony.Codec{}, telephony.Codec{}, browser.ErrBadOffer},
		{"session-level inactive", strings.Replace(strings.Replace(chromium, "a=sendrecv\r\n", "", 1), "t=0 0", "t=0 0\r\na=inactive", 1),
			telephony.Codec{}, telephony.Codec{}, browser.ErrBadOffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bm, err := parseOffer(tt.sdp)
			if tt.wantErr != nil {
				var le *browser.Error
				if !errors.As(err, &le) || !errors.Is(err, tt.wantErr) || !strings.HasPrefix(le.Detail, "sdp: ") {
					t.Fatalf("parseOffer error %v, want %v with an sdp: detail", err, tt.wantErr)
				}

				return
			}
			if err != nil {
				t.Fatalf("parseOffer: %v", err)
			}
			if bm.Audio != tt.wantAudio || bm.Event != tt.wantEvent {
				t.Fatalf("parseOffer = %v, want %v + %v", bm, tt.wantAudio, tt.wantEvent)
			}
			if _, ok := capability(bm.Audio); !ok {
				t.Errorf("no registered capability for %v", bm.Audio)
			}
		})
	}
}

// FuzzParseOffer feeds arbitrary and mutated offers to parseOffer: it must
// never panic, must fail only with a *browser.Error of a documented kind,
// and what it accepts must name a codec the gateway speaks.
func FuzzParseOffer(f *testing.F) {
	f.Add(offerSDP("audio 9 UDP/TLS/RTP/SAVPF 111 110", "a=rtpmap:111 opus/48000/2", "a=rtpmap:110 telephone-event/48000"))
	f.Add(offerSDP("audio 9 UDP/TLS/RTP/SAVPF 0 8"))
	f.Add(offerSDP("video 9 UDP/TLS/RTP/SAVPF 96"))
	f.Add("v=0\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, offer string) {
		m, err := parseOffer(offer)
		if err != nil {
			var le *browser.Error
			if !errors.As(err, &le) || (!errors.Is(err, browser.ErrBadOffer) && !errors.Is(err, browser.ErrNoCommonCodec)) {
				t.Fatalf("undocumented error %v", err)
			}

			return
		}
		if !m.Audio.IsOpus() && !m.Audio.IsG711() {
			t.Fatalf("accepted audio %v", m.Audio)
		}
		for _, e := range m.Events {
			if !e.IsTelephoneEvent() {
				t.Fatalf("accepted event %v", e)
			}
		}
	})
}
