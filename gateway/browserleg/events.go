package browserleg

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/telephony"
)

// answerOneEvent makes the answer list one telephone-event, l.media.Event
// (the one at the audio's clock rate when the offer has it), and the
// offer's other codecs the gateway speaks in the offer's order and with
// its payload types (RFC 3264 section 6.1). With telephone-event at both
// 8000 and 48000 Hz in the answer, Chromium reports each digit on the
// 8000 Hz payload type by its end packets only; with one, it sends whole
// events (RFC 4733 section 2.5.1). l.media.Events is narrowed to that one
// event, the only one the browser may then send. Errors are pion's.
func (l *Leg) answerOneEvent(sender *webrtc.RTPSender, offer string) error {
	if l.media.Event.Name == "" {
		return nil
	}
	var tr *webrtc.RTPTransceiver
	for _, t := range l.pc.GetTransceivers() {
		if t.Sender() == sender {
			tr = t

			break
		}
	}
	if tr == nil {
		return nil
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return fmt.Errorf("browserleg: offer: %w", err)
	}
	prefs := offeredCodecs(&sd, l.media.Event.ClockRate)
	if len(prefs) == 0 {
		return nil
	}
	if err := tr.SetCodecPreferences(prefs); err != nil {
		return fmt.Errorf("browserleg: codec preferences: %w", err)
	}
	l.media.Events = []telephony.Codec{l.media.Event}

	return nil
}

// offeredCodecs returns, for the first active audio section of sd, the
// codecs of Codecs it offers, in its order and with its payload types,
// keeping telephone-event only at eventClock.
func offeredCodecs(sd *sdp.SessionDescription, eventClock int) []webrtc.RTPCodecParameters {
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		var out []webrtc.RTPCodecParameters
		for _, f := range formats(md) {
			for _, c := range Codecs() {
				if !strings.EqualFold(c.MimeType, "audio/"+f.name) || int(c.ClockRate) != f.clock {
					continue
				}
				if c.MimeType == MimeTypeTelephoneEvent && f.clock != eventClock {
					continue
				}
				c.PayloadType = webrtc.PayloadType(f.pt)
				out = append(out, c)
			}
		}

		return out
	}

	return nil
}
