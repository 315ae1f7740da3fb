package signaling

import (
	"strconv"
	"strings"
)

// offerSDP is an audio offer shaped like a desktop Chromium's: Opus, RED,
// G.722, PCMU, PCMA, CN and telephone-event at both clocks, one audio
// section, ICE and DTLS attributes.
const offerSDP = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"a=extmap-allow-mixed\r\n" +
	"a=msid-semantic: WMS\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:Vx3p\r\n" +
	"a=ice-pwd:3HJJkVbqq0rELRUomDF6xZrA\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 1B:8F:8C:3E:4B:5B:3E:0E:60:2B:1A:0D:7D:29:17:5E:7C:FB:16:7A:9C:57:63:3E:85:6A:8E:4C:58:11:32:7B\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=sendrecv\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=rtcp-fb:111 transport-cc\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:63 red/48000/2\r\n" +
	"a=fmtp:63 111/111\r\n" +
	"a=rtpmap:9 G722/8000\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:13 CN/8000\r\n" +
	"a=rtpmap:110 telephone-event/48000\r\n" +
	"a=rtpmap:126 telephone-event/8000\r\n"

// videoOnlySDP is a valid offer without audio.
var videoOnlySDP = strings.Replace(offerSDP, "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "m=video 9 UDP/TLS/RTP/SAVPF 96", 1)

// disabledAudioSDP is an offer whose only audio section is rejected (port 0).
var disabledAudioSDP = strings.Replace(offerSDP, "m=audio 9 ", "m=audio 0 ", 1)

// quote returns s as a JSON string literal (s is ASCII in these tests).
func quote(s string) string { return strconv.Quote(s) }
