package browserleg

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/webtrunk/webtrunk/gateway/browser"
	"github.com/webtrunk/webtrunk/telephony"
)

// parseOffer reads the browser's SDP offer (RFC 4566, parsed with
// pion/sdp) and picks its audio codec: Opus, PCMU or PCMA, whichever the
// first active audio section lists first, with the offer's payload types.
// Its telephone-event is the one at the audio's clock rate, else the other.
// Errors are *browser.Error: ErrBadOffer for an SDP that does not parse,
// ICE credentials outside RFC 8839 section 5.4, or an audio section that
// does not send and receive; ErrNoCommonCodec for no active audio section
// or no codec in common.
func parseOffer(offer string) (browser.Media, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return browser.Media{}, &browser.Error{Kind: browser.ErrBadOffer, Detail: "sdp: " + err.Error(), Err: err}
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if detail := checkAudioSection(&sd, md); detail != "" {
			return browser.Media{}, &browser.Error{Kind: browser.ErrBadOffer, Detail: "sdp: " + detail}
		}

		return audioMedia(md)
	}

	return browser.Media{}, &browser.Error{Kind: browser.ErrNoCommonCodec, Detail: "sdp: the offer has no active audio section"}
}

// ICE credential lengths of RFC 8839 section 5.4: ice-ufrag 4 to 256
// ice-chars, ice-pwd 22 to 256.
const (
	minUfragLen = 4
	minPwdLen   = 22
	maxICELen   = 256
)

// checkAudioSection checks what an offer for a call must have beyond
// parsing: ICE credentials of the lengths and characters RFC 8839 section
// 5.4 allows (at media level, or at session level as Firefox writes them),
// and an audio direction that sends and receives (a=inactive or
// a=recvonly offers no call, RFC 3264 section 6.1). It returns what is
// wrong, or "".
func checkAudioSection(sd *sdp.SessionDescription, md *sdp.MediaDescription) string {
	for _, c := range []struct {
		key      string
		min      int
		required bool
	}{{"ice-ufrag", minUfragLen, true}, {"ice-pwd", minPwdLen, true}} {
		v, ok := md.Attribute(c.key)
		if !ok {
			v, ok = sd.Attribute(c.key)
		}
		switch {
		case !ok:
			return "a=" + c.key + " missing"
		case len(v) < c.min || len(v) > maxICELen || !iceChars(v):
			return "a=" + c.key + " must be " + strconv.Itoa(c.min) + " to 256 characters of A-Z a-z 0-9 + / (RFC 8839 section 5.4)"
		}
	}
	dir := "sendrecv"
	for _, attrs := range [][]sdp.Attribute{sd.Attributes, md.Attributes} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
			}
		}
	}
	if dir == "inactive" || dir == "recvonly" {
		return "the audio section is " + dir + ": a call needs a=sendrecv"
	}

	return ""
}

// iceChars reports whether s has only ice-chars (RFC 8839 section 5.4:
// ALPHA, DIGIT, "+" and "/").
func iceChars(s string) bool {
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '+', c == '/':
		default:
			return false
		}
	}

	return true
}

// audioMedia picks the codecs of an active audio section.
func audioMedia(md *sdp.MediaDescription) (browser.Media, error) {
	var m browser.Media
	for _, f := range formats(md) {
		pt, name, clock := f.pt, f.name, f.clock
		switch {
		case strings.EqualFold(name, "opus") && clock == 48000 && m.Audio.Name == "":
			m.Audio = telephony.Opus.WithPayloadType(pt)
		case strings.EqualFold(name, "PCMU") && clock == 8000 && m.Audio.Name == "":
			m.Audio = telephony.PCMU.WithPayloadType(pt)
		case strings.EqualFold(name, "PCMA") && clock == 8000 && m.Audio.Name == "":
			m.Audio = telephony.PCMA.WithPayloadType(pt)
		case strings.EqualFold(name, "telephone-event") && (clock == 8000 || clock == 48000):
			m.Events = append(m.Events, telephony.Codec{Name: "telephone-event", ClockRate: clock, Channels: 1, PayloadType: pt})
		}
	}
	if m.Audio.Name == "" {
		return browser.Media{}, &browser.Error{Kind: browser.ErrNoCommonCodec, Detail: "sdp: the offer has none of opus, PCMU, PCMA"}
	}
	for _, e := range m.Events {
		if m.Event.Name == "" || (e.ClockRate == m.Audio.ClockRate && m.Event.ClockRate != m.Audio.ClockRate) {
			m.Event = e
		}
	}

	return m, nil
}

// rtpmap is one a=rtpmap line (RFC 4566 section 6).
type rtpmap struct {
	name  string
	clock int
}

// format is one payload type of a media section with its encoding.
type format struct {
	pt uint8
	rtpmap
}

// formats returns the payload types of a media section's m= line, in its
// order, each with the encoding name and clock rate of its a=rtpmap or,
// without one, of the static types PCMU (0) and PCMA (8) of RFC 3551
// section 6; formats that are no payload type or have neither are left
// out.
func formats(md *sdp.MediaDescription) []format {
	maps := rtpmaps(md)
	out := make([]format, 0, len(md.MediaName.Formats))
	for _, f := range md.MediaName.Formats {
		pt64, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		pt := uint8(pt64)
		enc := maps[pt]
		switch {
		case enc.name != "":
		case pt == 0:
			enc = rtpmap{name: "PCMU", clock: 8000}
		case pt == 8:
			enc = rtpmap{name: "PCMA", clock: 8000}
		default:
			continue
		}
		out = append(out, format{pt: pt, rtpmap: enc})
	}

	return out
}

// rtpmaps reads the a=rtpmap attributes of a media section.
func rtpmaps(md *sdp.MediaDescription) map[uint8]rtpmap {
	m := make(map[uint8]rtpmap)
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		ptText, enc, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptText, 10, 7)
		if err != nil {
			continue
		}
		parts := strings.Split(enc, "/")
		if len(parts) < 2 {
			continue
		}
		clock, err := strconv.Atoi(parts[1])
		if err != nil {
			continue
		}
		m[uint8(pt)] = rtpmap{name: parts[0], clock: clock}
	}

	return m
}
