package faketrunk

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/webtrunk/webtrunk/telephony"
)

// Directions of a media stream (RFC 3264 section 5.1).
const (
	SendRecv = "sendrecv"
	SendOnly = "sendonly"
	RecvOnly = "recvonly"
	Inactive = "inactive"
)

// DefaultEventPT is the payload type of telephone-event/8000 (RFC 4733
// section 7.1.1) in the trunk's own offers.
const DefaultEventPT = 101

// Errors of ParseSDP.
var (
	errNoAudio      = errors.New("faketrunk: sdp: no audio section")
	errNoConnection = errors.New("faketrunk: sdp: no c= line")
)

// Description is what the trunk reads from the other side's SDP (RFC 4566)
// and writes in its own: the audio stream's address, its G.711 codecs in
// order with their payload types, the telephone-event/8000 payload type (0
// when absent) and the stream's direction.
type Description struct {
	Addr netip.AddrPort
	// RTCP is where the peer receives RTCP: the a=rtcp port (RFC 3605
	// section 2.1) on Addr's address when given, else Addr's port plus one
	// (RFC 3550 section 11).
	RTCP             netip.AddrPort
	Codecs           []telephony.Codec
	TelephoneEventPT uint8
	Direction        string
	// Version is the o= line's session version (RFC 4566 section 5.2).
	Version uint64
}

// Codec returns the description's first codec, or PCMU when it has none.
func (d Description) Codec() telephony.Codec {
	if len(d.Codecs) == 0 {
		return telephony.PCMU
	}

	return d.Codecs[0]
}

// ParseSDP reads the first audio section of body. Formats other than
// PCMU, PCMA and telephone-event/8000 are left out of Codecs.
func ParseSDP(body []byte) (Description, error) {
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(body); err != nil {
		return Description{}, fmt.Errorf("faketrunk: sdp: %w", err)
	}
	for _, m := range desc.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		conn := desc.ConnectionInformation
		if m.ConnectionInformation != nil {
			conn = m.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return Description{}, errNoConnection
		}
		ip, err := netip.ParseAddr(conn.Address.Address)
		if err != nil {
			return Description{}, fmt.Errorf("faketrunk: sdp: c= address: %w", err)
		}
		d := Description{Addr: netip.AddrPortFrom(ip, uint16(m.MediaName.Port.Value)), Direction: SendRecv, Version: desc.Origin.SessionVersion} //nolint:gosec // a port
		d.RTCP = netip.AddrPortFrom(ip, d.Addr.Port()+1)
		for _, a := range append(append([]sdp.Attribute(nil), desc.Attributes...), m.Attributes...) {
			switch a.Key {
			case SendRecv, SendOnly, RecvOnly, Inactive:
				d.Direction = a.Key
			case "rtcp":
				if p, err := strconv.Atoi(strings.Fields(a.Value + " ")[0]); err == nil {
					d.RTCP = netip.AddrPortFrom(ip, uint16(p)) //nolint:gosec // a port
				}
			}
		}
		for _, f := range m.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil || pt < 0 || pt > 127 {
				continue
			}
			c, err := desc.GetCodecForPayloadType(uint8(pt))
			if err != nil {
				continue
			}
			if g, ok := telephony.G711ByName(c.Name); ok && c.ClockRate == 8000 {
				d.Codecs = append(d.Codecs, g.WithPayloadType(uint8(pt)))
			} else if strings.EqualFold(c.Name, telephony.NameTelephoneEvent) && c.ClockRate == 8000 {
				d.TelephoneEventPT = uint8(pt)
			}
		}

		return d, nil
	}

	return Description{}, errNoAudio
}

// Marshal writes d as the trunk's SDP offer or answer for RTP on 127.0.0.1
// at d.Addr's port: its codecs in order, then telephone-event/8000 with
// events 0-15 when d.TelephoneEventPT is set, ptime 20 and the direction
// (sendrecv when empty), and a=rtcp with d.RTCP's port when it is set
// (RFC 3605).
func (d Description) Marshal() []byte {
	formats := make([]string, 0, len(d.Codecs)+1)
	var attrs []sdp.Attribute
	for _, c := range d.Codecs {
		formats = append(formats, strconv.Itoa(int(c.PayloadType)))
		attrs = append(attrs, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/%d", c.PayloadType, c.Name, c.ClockRate)))
	}
	if pt := d.TelephoneEventPT; pt != 0 {
		formats = append(formats, strconv.Itoa(int(pt)))
		attrs = append(attrs,
			sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", pt, telephony.NameTelephoneEvent)),
			sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-15", pt)))
	}
	dir := d.Direction
	if dir == "" {
		dir = SendRecv
	}
	attrs = append(attrs, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(dir))
	if d.RTCP.IsValid() {
		attrs = append(attrs, sdp.NewAttribute("rtcp", strconv.Itoa(int(d.RTCP.Port()))))
	}
	desc := sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: "faketrunk", SessionID: 4242, SessionVersion: d.Version,
			NetworkType: "IN", AddressType: "IP4", UnicastAddress: "127.0.0.1",
		},
		SessionName:           "-",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: "IP4", Address: &sdp.Address{Address: "127.0.0.1"}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName:  sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: int(d.Addr.Port())}, Protos: []string{"RTP", "AVP"}, Formats: formats},
			Attributes: attrs,
		}},
	}
	out, err := desc.Marshal()
	if err != nil {
		// Every field above is set: Marshal has nothing to refuse.
		return nil
	}

	return out
}

// answerDirection is the direction that answers an offer of dir (RFC 3264
// section 6.1).
func answerDirection(dir string) string {
	switch dir {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	default:
		return SendRecv
	}
}
