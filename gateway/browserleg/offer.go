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
// ErrNoCommonCodec for no active audio section or no codec in common.
func parseOffer(offer string) (browser.Media, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return browser.Media{}, &browser.Error{Kind: browser.ErrBadOffer, Detail: "sdp: " + err.Error(), Err: err}
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}

		return audioMedia(md)
	}

	return browser.Media{}, &browser.Error{Kind: browser.ErrNoCommonCodec, Detail: "sdp: the offer has no active audio section"}
}

// audioMedia picks the codecs of an active audio section.
func audioMedia(md *sdp.MediaDescription) (browser.Media, error) {
	maps := rtpmaps(md)
	var m browser.Media
	for _, f := range md.MediaName.Formats {
		pt64, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		pt := uint8(pt64)
		name, clock := maps[pt].name, maps[pt].clock
		if name == "" {
			switch pt {
			case 0:
				name, clock = "PCMU", 8000
			case 8:
				name, clock = "PCMA", 8000
			}
		}
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
