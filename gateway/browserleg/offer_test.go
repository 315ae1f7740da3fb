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
