package sip

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/webtrunk/webtrunk/telephony"
)

// FuzzSDPRoundTrip: whatever ParseSDP accepts, written again by BuildOffer with the same
// address, codecs and payload types, telephone-event, ptime and direction, parses to the same
// media; and an offer built from it is answered with a description that parses to the codec
// Negotiate picks.
func FuzzSDPRoundTrip(f *testing.F) {
	for _, seed := range [][]byte{carrierOffer, asteriskOffer, freeswitchOffer, ipv6Offer,
		sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 1 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=inactive", "a=ptime:30"),
		sdpLines("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "a=sendonly", "m=audio 4000 RTP/AVP 96 8", "c=IN IP4 192.0.2.7", "a=rtpmap:96 PCMU/8000"),
	} {
		f.Add(seed)
	}
	ours := []telephony.Codec{telephony.PCMA, telephony.PCMU}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseSDP(body)
		if err != nil || len(m.Codecs) == 0 {
			return
		}
		p := SDPParams{Addr: m.Addr, SessionID: 7, SessionVersion: 1, Codecs: m.Codecs,
			TelephoneEventPT: m.TelephoneEventPT, PtimeMs: m.PtimeMs, Direction: m.Direction, UserAgent: "fuzz"}
		rebuilt, err := BuildOffer(p)
		if err != nil {
			t.Fatalf("BuildOffer of parsed media %+v: %v", m, err)
		}
		back, err := ParseSDP(rebuilt)
		if err != nil {
			t.Fatalf("rebuilt SDP does not parse: %v\n%s", err, rebuilt)
		}
		if back.Addr != m.Addr || !slices.Equal(back.Codecs, m.Codecs) || back.TelephoneEventPT != m.TelephoneEventPT ||
			back.PtimeMs != m.PtimeMs || back.Direction != m.Direction {
			t.Fatalf("round trip changed the media:\n%+v\n%+v\n%s", m, back, rebuilt)
		}
		checkAnswer(t, back, SDPParams{Addr: netip.MustParseAddrPort("192.0.2.1:10000"), Codecs: ours, TelephoneEventPT: 101, PtimeMs: 20})
	})
}
