package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/webtrunk/webtrunk/telephony"
)

var (
	// ErrSDPMalformed is wrapped by every error about a session description
	// that cannot be parsed or misses a mandatory line (RFC 4566 section 5).
	// A request carrying such a body is answered 400 Bad Request.
	ErrSDPMalformed = errors.New("sip: malformed sdp")
	// ErrNoAudio means the session description has no usable audio stream:
	// no m=audio line, only rejected ones (port 0, RFC 3264 section 6), or
	// only transports other than plain RTP/AVP. It is answered 488 Not
	// Acceptable Here (RFC 3261 section 21.4.26).
	ErrNoAudio = errors.New("sip: no audio stream in sdp")
	// ErrNoCommonCodec means the offer lists none of our audio codecs
	// (RFC 3264 section 6.1). It is answered 488 Not Acceptable Here.
	ErrNoCommonCodec = errors.New("sip: no common codec")
	// ErrSDPParams is wrapped by BuildOffer and BuildAnswer when the
	// SDPParams cannot describe a valid stream (no address, no codec,
	// clashing payload types). It is a programming or configuration error.
	ErrSDPParams = errors.New("sip: invalid sdp parameters")
)

// Direction is the media direction of an audio stream as declared by the
// party that wrote the session description (RFC 3264 section 5.1,
// RFC 4566 section 6). The zero value is SendRecv, the default when no
// direction attribute is present.
type Direction int

const (
	// SendRecv means the writer sends and receives media (a=sendrecv).
	SendRecv Direction = iota
	// SendOnly means the writer only sends (a=sendonly), used to put the other
	// party on hold (RFC 3264 section 8.4).
	SendOnly
	// RecvOnly means the writer only receives (a=recvonly).
	RecvOnly
	// Inactive means neither party sends (a=inactive).
	Inactive
)

// String returns the SDP attribute name: "sendrecv", "sendonly", "recvonly"
// or "inactive", and "Direction(n)" for an invalid value.
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	default:
		return "Direction(" + strconv.Itoa(int(d)) + ")"
	}
}

// Sends reports whether the writer of a description with this direction
// sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the writer of a description with this direction
// receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// directionOf builds a Direction from what its writer does.
func directionOf(sends, receives bool) Direction {
	switch {
	case sends && receives:
		return SendRecv
	case sends:
		return SendOnly
	case receives:
		return RecvOnly
	default:
		return Inactive
	}
}

// parseDirection maps an attribute key to a Direction.
func parseDirection(key string) (Direction, bool) {
	switch key {
	case "sendrecv":
		return SendRecv, true
	case "sendonly":
		return SendOnly, true
	case "recvonly":
		return RecvOnly, true
	case "inactive":
		return Inactive, true
	default:
		return SendRecv, false
	}
}

// MediaDescription is the part of a peer's session description this
// package uses: the first accepted audio stream over plain RTP/AVP.
type MediaDescription struct {
	// Addr is where the peer receives RTP: the connection address of the
	// media-level c= line, or the session-level one when the stream has
	// none (RFC 4566 section 5.7), and the port of the m= line. An
	// unspecified address (0.0.0.0 or ::) is the old style of putting the
	// call on hold (RFC 3264 section 8.4): send nothing.
	Addr netip.AddrPort
	// Codecs are the offered audio codecs this package understands, in
	// the order of the m= line (the peer's preference), each with the
	// payload type the peer uses for it. Formats we do not know are left
	// out, and a format listed twice is kept at its first position.
	Codecs []telephony.Codec
	// TelephoneEventPT is the payload type of telephone-event/8000
	// (RFC 4733 section 7.1.1), or 0 when the peer does not offer it.
	TelephoneEventPT uint8
	// PtimeMs is the packetisation time the peer asks for in a=ptime
	// (RFC 4566 section 6), in milliseconds, or 0 when absent or unreadable.
	PtimeMs int
	// Direction is the direction attribute of the stream, or the
	// session-level one when the stream has none (RFC 3264 section 5.1).
	Direction Direction
	// RTCPMux reports a=rtcp-mux (RFC 5761 section 5.1.1): the peer offers
	// to carry RTCP on the RTP port.
	RTCPMux bool
	// RTCPAddr is where the peer receives RTCP: the a=rtcp attribute
	// (RFC 3605 section 2.1) when present, the RTP address when RTCPMux is
	// set, else the RTP port plus one (RFC 3550 section 11).
	RTCPAddr netip.AddrPort
	// Secure reports that the stream's proto is RTP/SAVP or RTP/SAVPF (RFC 3711 section 12):
	// SRTP only. ParseSDP never returns such a stream; a trunk configured for SDES accepts it.
	Secure bool

	crypto cryptoOffer // the stream's a=crypto lines (RFC 4568)
}

// OnHold reports whether the peer's description stops media towards it or
// from it, the ways a call is put on hold: a=sendonly, a=inactive, or an
// unspecified connection address (RFC 3264 section 8.4).
func (m MediaDescription) OnHold() bool {
	return m.Direction == SendOnly || m.Direction == Inactive || m.Addr.Addr().IsUnspecified()
}

// ParseSDP parses a session description (RFC 4566) received in an offer or
// an answer and returns its first audio stream that uses plain RTP (proto
// RTP/AVP or RTP/AVPF) and has a non-zero port; other m= lines are ignored.
//
// Static payload types 0 (PCMU) and 8 (PCMA) are recognised without an
// a=rtpmap line; other formats need one. Both IPv4 (c=IN IP4) and IPv6
// (c=IN IP6) are accepted; a hostname or a multicast address is not.
//
// Errors wrap ErrSDPMalformed when the body does not parse, the stream has
// no connection address or an unreadable a=rtcp, and ErrNoAudio when there
// is no usable audio stream. A stream without any codec we understand is
// returned without error and with empty Codecs: Negotiate reports that.
func ParseSDP(body []byte) (MediaDescription, error) {
	return parseSDP(body, false)
}

// parseSDP is ParseSDP that, when secure is true, also takes an audio stream over RTP/SAVP or
// RTP/SAVPF (the first audio stream of either kind is used). The stream's a=crypto lines are
// read either way; whether they matter is the trunk's media encryption's business.
func parseSDP(body []byte, secure bool) (MediaDescription, error) {
	var sess sdp.SessionDescription
	if err := sess.UnmarshalString(string(body)); err != nil {
		return MediaDescription{}, fmt.Errorf("%w: %w", ErrSDPMalformed, err)
	}
	if sess.Origin.NetworkType == "" || len(sess.TimeDescriptions) == 0 {
		// pion stops without error at the end of input, even an empty one.
		return MediaDescription{}, fmt.Errorf("%w: missing v=, o=, s= or t= line", ErrSDPMalformed)
	}

	var media *sdp.MediaDescription
	for _, md := range sess.MediaDescriptions {
		usable := isPlainRTP(md.MediaName.Protos) || secure && isSecureRTP(md.MediaName.Protos)
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 && usable {
			media = md
			break
		}
	}
	if media == nil {
		return MediaDescription{}, ErrNoAudio
	}

	conn := media.ConnectionInformation
	if conn == nil {
		conn = sess.ConnectionInformation
	}
	ip, err := connectionAddr(conn)
	if err != nil {
		return MediaDescription{}, err
	}

	out := MediaDescription{
		Addr:      netip.AddrPortFrom(ip, uint16(media.MediaName.Port.Value)),
		Direction: SendRecv,
		Secure:    isSecureRTP(media.MediaName.Protos),
		crypto:    readCrypto(media),
	}
	out.Codecs, out.TelephoneEventPT, err = mediaFormats(media)
	if err != nil {
		return MediaDescription{}, err
	}

	sessionDir, sessionHasDir := attributesDirection(sess.Attributes)
	if dir, ok := attributesDirection(media.Attributes); ok {
		out.Direction = dir
	} else if sessionHasDir {
		out.Direction = sessionDir
	}

	ptime, ok := media.Attribute("ptime")
	if !ok {
		ptime, _ = sess.Attribute("ptime")
	}
	if v, err := strconv.Atoi(strings.TrimSpace(ptime)); err == nil && v > 0 && v <= maxPtimeMs {
		out.PtimeMs = v
	}

	_, out.RTCPMux = media.Attribute("rtcp-mux")
	out.RTCPAddr, err = rtcpAddr(media, out.Addr, out.RTCPMux)
	if err != nil {
		return MediaDescription{}, err
	}
	return out, nil
}

// maxPtimeMs bounds a=ptime: longer packets than one second are not audio
// any telephone network sends, and such a value is treated as absent.
const maxPtimeMs = 1000

// isPlainRTP reports whether an m= proto is unencrypted RTP (RFC 3551
// RTP/AVP, or RFC 4585 RTP/AVPF whose feedback we may ignore).
func isPlainRTP(protos []string) bool {
	return len(protos) == 2 && protos[0] == "RTP" && (protos[1] == "AVP" || protos[1] == "AVPF")
}

// isSecureRTP reports whether an m= proto is SRTP (RFC 3711 RTP/SAVP, or RFC 5124 RTP/SAVPF).
func isSecureRTP(protos []string) bool {
	return len(protos) == 2 && protos[0] == "RTP" && (protos[1] == "SAVP" || protos[1] == "SAVPF")
}

// connectionAddr returns the IP address of a c= line.
func connectionAddr(conn *sdp.ConnectionInformation) (netip.Addr, error) {
	if conn == nil || conn.Address == nil {
		return netip.Addr{}, fmt.Errorf("%w: no connection address (c=)", ErrSDPMalformed)
	}
	ip, err := netip.ParseAddr(conn.Address.Address)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: connection address %q is not an IP address", ErrSDPMalformed, conn.Address.Address)
	}
	if ip.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("%w: multicast connection address %s", ErrNoAudio, ip)
	}
	switch {
	case conn.AddressType == "IP4" && ip.Is4():
		return ip, nil
	case conn.AddressType == "IP4" && ip.Is4In6():
		return ip.Unmap(), nil
	case conn.AddressType == "IP6" && ip.Is6() && !ip.Is4In6():
		return ip, nil
	default:
		return netip.Addr{}, fmt.Errorf("%w: address %s does not match address type %s", ErrSDPMalformed, ip, conn.AddressType)
	}
}

// mediaFormats returns the audio codecs we understand among the formats of
// one m= line, in its order, and the payload type of telephone-event/8000.
// Payload type names come from the rtpmap attributes of that m= line only,
// with the static assignments of RFC 3551 for the rest.
func mediaFormats(media *sdp.MediaDescription) ([]telephony.Codec, uint8, error) {
	// pion maps the formats of every m= line in a session: give it one.
	names := (&sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{media}}).GetCodecMap()

	var (
		codecs []telephony.Codec
		tePT   uint8
	)
	for _, f := range media.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: RTP/AVP format %q is not a payload type", ErrSDPMalformed, f)
		}
		if isReservedPT(uint8(pt)) {
			continue
		}
		named, ok := names[uint8(pt)]
		if !ok || named.ClockRate > uint32(maxClockRate) {
			continue
		}
		if named.EncodingParameters != "" && named.EncodingParameters != "1" {
			continue // more than one channel
		}
		c := telephony.Codec{Name: named.Name, PayloadType: uint8(pt), ClockRate: int(named.ClockRate), Channels: 1}
		if strings.EqualFold(c.Name, telephoneEvent) {
			if c.ClockRate == 8000 && tePT == 0 && pt != 0 {
				tePT = uint8(pt)
			}
			continue
		}
		known, ok := telephony.G711ByName(c.Name)
		if !ok || known.ClockRate != c.ClockRate || hasFormat(codecs, c) {
			continue
		}
		c.Name = known.Name
		codecs = append(codecs, c)
	}
	return codecs, tePT, nil
}

// isReservedPT reports whether pt is one of the payload types 72-76 that
// RTP must not use so that RTP and RTCP stay distinguishable (RFC 5761
// section 4).
func isReservedPT(pt uint8) bool { return pt >= 72 && pt <= 76 }

// maxClockRate bounds the clock rates read from a=rtpmap so they fit an int
// on every platform.
const maxClockRate = 1 << 30

// hasFormat reports whether codecs already lists c's payload format.
func hasFormat(codecs []telephony.Codec, c telephony.Codec) bool {
	for _, have := range codecs {
		if have.SameFormat(c) {
			return true
		}
	}
	return false
}

// attributesDirection returns the direction attribute among attrs.
func attributesDirection(attrs []sdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		if d, ok := parseDirection(a.Key); ok {
			return d, true
		}
	}
	return SendRecv, false
}

// rtcpAddr returns where the peer receives RTCP for an RTP stream at rtp.
// a=rtcp is "port [nettype addrtype address]" (RFC 3605 section 2.1).
func rtcpAddr(media *sdp.MediaDescription, rtp netip.AddrPort, mux bool) (netip.AddrPort, error) {
	if mux {
		return rtp, nil
	}
	value, ok := media.Attribute("rtcp")
	if !ok {
		if rtp.Port() == 65535 {
			return netip.AddrPortFrom(rtp.Addr(), 0), nil
		}
		return netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1), nil
	}
	fields := strings.Fields(value)
	if len(fields) != 1 && len(fields) != 4 {
		return netip.AddrPort{}, fmt.Errorf("%w: a=rtcp:%s", ErrSDPMalformed, value)
	}
	port, err := strconv.ParseUint(fields[0], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: a=rtcp:%s", ErrSDPMalformed, value)
	}
	if len(fields) == 1 {
		return netip.AddrPortFrom(rtp.Addr(), uint16(port)), nil
	}
	if fields[1] != "IN" {
		return netip.AddrPort{}, fmt.Errorf("%w: a=rtcp:%s", ErrSDPMalformed, value)
	}
	ip, err := connectionAddr(&sdp.ConnectionInformation{
		NetworkType: fields[1], AddressType: fields[2], Address: &sdp.Address{Address: fields[3]},
	})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: a=rtcp:%s", ErrSDPMalformed, value)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
