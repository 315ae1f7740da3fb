package sip

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pion/sdp/v3"

	"github.com/webtrunk/webtrunk/telephony"
)

// Negotiate picks the codec of a call from a peer's offer: the first codec
// of ours (our order of preference, RFC 3264 section 6.1 lets the answerer
// choose) that the offer also lists. The returned codec carries the
// offer's payload type, which both directions then use. telEventPT is the
// offer's telephone-event/8000 payload type, 0 when not offered.
//
// It returns ErrNoCommonCodec when no codec of ours is in the offer.
func Negotiate(offer MediaDescription, ours []telephony.Codec) (codec telephony.Codec, telEventPT uint8, err error) {
	for _, want := range ours {
		for _, have := range offer.Codecs {
			if want.SameFormat(have) {
				return have, offer.TelephoneEventPT, nil
			}
		}
	}
	return telephony.Codec{}, 0, ErrNoCommonCodec
}

// SDPParams describes our side of an audio stream for BuildOffer and
// BuildAnswer.
type SDPParams struct {
	// Addr is where we receive RTP: the public address written in c= and
	// o= and the port of the m= line. RTCP is received on port+1. An
	// unspecified address (0.0.0.0) writes an old-style hold offer.
	Addr netip.AddrPort
	// SessionID and SessionVersion go into o= (RFC 4566 section 5.2): the
	// ID stays the same for the whole dialog and the version is increased
	// by one for each new offer or answer that changes the session
	// (RFC 3264 section 8).
	SessionID, SessionVersion uint64
	// Codecs are the codecs we accept, most preferred first. An offer
	// lists them all in this order with their payload types; an answer
	// chooses one of them (see Negotiate).
	Codecs []telephony.Codec
	// TelephoneEventPT is the payload type to offer telephone-event/8000
	// with (RFC 4733), 0 for none. In an answer any non-zero value means
	// "we accept telephone-event", and the offer's payload type is used.
	TelephoneEventPT uint8
	// PtimeMs is written as a=ptime (milliseconds) when not 0.
	PtimeMs int
	// Direction is the direction we want. An answer writes the
	// intersection of this and the offer's direction (RFC 3264 section 6.1).
	Direction Direction
	// UserAgent is the session name (s=); "-" when empty, or when it holds control characters
	// or invalid UTF-8 (RFC 4566 section 5.3: one line of UTF-8 text).
	UserAgent string
	// Secure makes an offer use the proto RTP/SAVP (RFC 3711) instead of RTP/AVP; an answer
	// takes the offer's proto instead.
	Secure bool

	crypto []cryptoAttr // a=crypto lines to write (RFC 4568 section 9.1)
}

// telephoneEventEvents is the fmtp of telephone-event we offer and accept:
// DTMF digits 0-9, *, #, A-D and flash (RFC 4733 section 3.2).
const telephoneEventEvents = "0-16"

// BuildOffer writes an SDP offer (RFC 3264 section 5) for one audio stream
// over RTP/AVP: the codecs of p in order, telephone-event/8000 with
// events 0-16 when p.TelephoneEventPT is not 0, a=ptime when p.PtimeMs is
// not 0 and p.Direction. Lines end with CRLF.
//
// It returns an error wrapping ErrSDPParams when p has no valid address,
// no codec, a codec other than PCMU/PCMA, a payload type above 127 or in
// 72-76 (reserved so RTP and RTCP can share a port, RFC 5761 section 4),
// or a payload type used twice.
func BuildOffer(p SDPParams) ([]byte, error) {
	if len(p.Codecs) == 0 {
		return nil, fmt.Errorf("%w: no codec", ErrSDPParams)
	}
	return buildSDP(p, p.Codecs, p.TelephoneEventPT, p.Direction, p.Secure)
}

// BuildAnswer writes the SDP answer (RFC 3264 section 6) to offer: one
// audio stream with the codec Negotiate picks from p.Codecs and, when both
// sides accept telephone-event/8000, telephone-event; both with the
// offer's payload types (RFC 3264 section 6.1). The direction answers the
// offer's: sendonly becomes recvonly, recvonly becomes sendonly, inactive
// stays inactive, each limited by p.Direction; an offer with an
// unspecified connection address (old-style hold) is treated as not
// receiving.
//
// It returns ErrNoCommonCodec when no codec matches (answer 488), and an
// error wrapping ErrSDPParams when p is not valid.
func BuildAnswer(offer MediaDescription, p SDPParams) ([]byte, error) {
	codec, tePT, err := Negotiate(offer, p.Codecs)
	if err != nil {
		return nil, err
	}
	if p.TelephoneEventPT == 0 {
		tePT = 0
	}
	theirs := offer.Direction
	if offer.Addr.Addr().IsUnspecified() {
		theirs = directionOf(theirs.Sends(), false)
	}
	dir := directionOf(theirs.Receives() && p.Direction.Sends(), theirs.Sends() && p.Direction.Receives())
	if offer.Secure && len(p.crypto) == 0 {
		return nil, fmt.Errorf("%w: an RTP/SAVP offer without keys of ours", ErrBadCrypto)
	}
	return buildSDP(p, []telephony.Codec{codec}, tePT, dir, offer.Secure)
}

// buildSDP marshals a session with one audio stream.
func buildSDP(p SDPParams, codecs []telephony.Codec, tePT uint8, dir Direction, secure bool) ([]byte, error) {
	if !p.Addr.IsValid() || p.Addr.Port() == 0 || p.Addr.Addr().Zone() != "" {
		return nil, fmt.Errorf("%w: address %v", ErrSDPParams, p.Addr)
	}
	if dir < SendRecv || dir > Inactive {
		return nil, fmt.Errorf("%w: direction %v", ErrSDPParams, dir)
	}
	if p.PtimeMs < 0 || p.PtimeMs > maxPtimeMs {
		return nil, fmt.Errorf("%w: ptime %d ms", ErrSDPParams, p.PtimeMs)
	}
	ip := p.Addr.Addr().Unmap()
	addrType := "IP4"
	if ip.Is6() {
		addrType = "IP6"
	}

	media := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:  "audio",
			Port:   sdp.RangedPort{Value: int(p.Addr.Port())},
			Protos: []string{"RTP", "AVP"},
		},
	}
	if secure {
		media.MediaName.Protos[1] = "SAVP"
	}
	used := make(map[uint8]bool, len(codecs)+1)
	addFormat := func(pt uint8, name string, clock int) error {
		if pt > 127 || used[pt] || isReservedPT(pt) {
			return fmt.Errorf("%w: payload type %d for %s", ErrSDPParams, pt, name)
		}
		used[pt] = true
		f := strconv.Itoa(int(pt))
		media.MediaName.Formats = append(media.MediaName.Formats, f)
		media.Attributes = append(media.Attributes, sdp.NewAttribute("rtpmap", f+" "+name+"/"+strconv.Itoa(clock)))
		return nil
	}
	for _, c := range codecs {
		known, ok := telephony.G711ByName(c.Name)
		if !ok || known.ClockRate != c.ClockRate {
			return nil, fmt.Errorf("%w: unsupported codec %v", ErrSDPParams, c)
		}
		if err := addFormat(c.PayloadType, known.Name, known.ClockRate); err != nil {
			return nil, err
		}
	}
	if tePT != 0 {
		if err := addFormat(tePT, telephoneEvent, 8000); err != nil {
			return nil, err
		}
		media.Attributes = append(media.Attributes, sdp.NewAttribute("fmtp", strconv.Itoa(int(tePT))+" "+telephoneEventEvents))
	}
	if p.PtimeMs != 0 {
		media.Attributes = append(media.Attributes, sdp.NewAttribute("ptime", strconv.Itoa(p.PtimeMs)))
	}
	for _, a := range p.crypto {
		media.Attributes = append(media.Attributes, sdp.NewAttribute("crypto", a.String()))
	}
	media.Attributes = append(media.Attributes, sdp.NewPropertyAttribute(dir.String()))

	name := strings.TrimSpace(p.UserAgent)
	if name == "" || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		name = "-"
	}
	sess := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "-",
			SessionID:      p.SessionID,
			SessionVersion: p.SessionVersion,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: ip.String(),
		},
		SessionName: sdp.SessionName(name),
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: ip.String()},
		},
		TimeDescriptions:  []sdp.TimeDescription{{Timing: sdp.Timing{StartTime: 0, StopTime: 0}}},
		MediaDescriptions: []*sdp.MediaDescription{media},
	}
	body, err := sess.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSDPParams, err)
	}
	return body, nil
}

// withDirection rewrites a description of ours with direction dir on every media stream (and
// none at session level) and o= version version; everything else is kept.
func withDirection(body []byte, dir Direction, version uint64) ([]byte, error) {
	var sess sdp.SessionDescription
	if err := sess.UnmarshalString(string(body)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSDPParams, err)
	}
	sess.Origin.SessionVersion = version
	sess.Attributes = withoutDirection(sess.Attributes)
	for _, m := range sess.MediaDescriptions {
		m.Attributes = append(withoutDirection(m.Attributes), sdp.NewPropertyAttribute(dir.String()))
	}
	out, err := sess.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSDPParams, err)
	}
	return out, nil
}

// withoutDirection returns attrs without direction attributes.
func withoutDirection(attrs []sdp.Attribute) []sdp.Attribute {
	out := attrs[:0:0]
	for _, a := range attrs {
		if _, ok := parseDirection(a.Key); !ok {
			out = append(out, a)
		}
	}
	return out
}

// sameSDP compares two descriptions ignoring the o= line, whose version is what changes.
func sameSDP(a, b []byte) bool {
	strip := func(s []byte) []byte {
		var out []byte
		for _, line := range bytes.Split(s, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("o=")) {
				continue
			}
			out = append(out, line...)
		}
		return out
	}
	return bytes.Equal(strip(a), strip(b))
}

// isSDPType reports whether a Content-Type value is application/sdp (RFC 3264 section 5).
func isSDPType(ct string) bool {
	mt, _, _ := bytes.Cut([]byte(ct), []byte(";"))
	return bytes.EqualFold(bytes.TrimSpace(mt), []byte("application/sdp"))
}
