package integration

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/transcode"
)

// Payload types the fake trunk offers (RFC 3551 section 6 for G.711; the
// telephone-event number is dynamic, RFC 4733 section 7.1.1).
const (
	ptPCMU      = 0
	ptPCMA      = 8
	ptTrunkDTMF = 101
)

// rtpEndpoint is the trunk's media: one UDP socket on 127.0.0.1 that sends a
// G.711 tone at 20 ms cadence to the negotiated peer, sends RFC 4733 digits on
// request, and records what it receives (decoded to 8 kHz PCM, and digits).
type rtpEndpoint struct {
	conn  *net.UDPConn
	local netip.AddrPort

	heard  *recording
	digits digitLog
	dtmf   *dtmfSender
	muted  atomic.Bool // stop sending audio (the far end goes quiet)

	startOnce sync.Once
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// newRTPEndpoint binds a UDP socket on 127.0.0.1 with an ephemeral port. It
// starts nothing: start begins the media once the peer is known.
func newRTPEndpoint() (*rtpEndpoint, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("trunk rtp: %w", err)
	}

	return &rtpEndpoint{
		conn:  c,
		local: c.LocalAddr().(*net.UDPAddr).AddrPort(),
		heard: newRecording(8000),
		dtmf:  newDTMFSender(8000),
		done:  make(chan struct{}),
	}, nil
}

// start sends the tone to remote with audio payload type audioPT (0 or 8)
// and digits with eventPT (0: none negotiated), and records what arrives.
// Only the first call has an effect.
func (e *rtpEndpoint) start(remote netip.AddrPort, audioPT, eventPT uint8) {
	e.startOnce.Do(func() {
		e.wg.Add(2)
		go e.receive()
		go e.send(remote, audioPT, eventPT)
	})
}

// close stops the media and releases the socket; it is idempotent.
func (e *rtpEndpoint) close() {
	e.closeOnce.Do(func() {
		close(e.done)
		_ = e.conn.Close()
	})
	e.wg.Wait()
}

// receive records every RTP packet until the socket is closed.
func (e *rtpEndpoint) receive() {
	defer e.wg.Done()
	buf := make([]byte, 1500)
	pcm := make([]int16, 1500)
	var p rtp.Packet
	for {
		n, err := e.conn.Read(buf)
		if err != nil {
			return
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		switch p.PayloadType {
		case ptPCMU:
			e.heard.add(pcm[:transcode.DecodePCMU(pcm, p.Payload)])
		case ptPCMA:
			e.heard.add(pcm[:transcode.DecodePCMA(pcm, p.Payload)])
		default:
			if len(p.Payload) == transcode.EventPayloadSize {
				e.digits.addEvent(p.Timestamp, p.Payload)
			}
		}
	}
}

// send plays the trunk's tone every 20 ms until close.
func (e *rtpEndpoint) send(remote netip.AddrPort, audioPT, eventPT uint8) {
	defer e.wg.Done()
	tone := testaudio.NewTone(trunkToneHz, 8000, toneAmp)
	pcm := make([]int16, 160)
	payload := make([]byte, 160)
	out := make([]byte, 1500)
	p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 0x7e57_0001}}
	var seq uint16
	var ts uint32
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-tick.C:
		}
		p.SequenceNumber = seq
		if eventPT == 0 || !e.dtmf.next(&p, eventPT, ts) {
			if e.muted.Load() {
				ts += 160
				continue
			}
			tone.Fill(pcm)
			if audioPT == ptPCMA {
				transcode.EncodePCMA(payload, pcm)
			} else {
				transcode.EncodePCMU(payload, pcm)
			}
			p.PayloadType, p.Marker, p.Timestamp, p.Payload = audioPT, seq == 0, ts, payload
		}
		n, err := p.MarshalTo(out)
		if err == nil {
			_, err = e.conn.WriteToUDPAddrPort(out[:n], remote)
		}
		if err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
		seq++
		ts += 160
	}
}

// trunkSDP returns the trunk's SDP (offer or answer) for RTP at port on
// 127.0.0.1: the given G.711 payload types in order and telephone-event
// ptTrunkDTMF, ptime 20, sendrecv (RFC 4566, RFC 3264).
func trunkSDP(port uint16, audioPTs ...uint8) []byte {
	formats := make([]string, 0, len(audioPTs)+1)
	attrs := []sdp.Attribute{}
	for _, pt := range audioPTs {
		formats = append(formats, strconv.Itoa(int(pt)))
		name := "PCMU"
		if pt == ptPCMA {
			name = "PCMA"
		}
		attrs = append(attrs, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", pt, name)))
	}
	formats = append(formats, strconv.Itoa(ptTrunkDTMF))
	attrs = append(attrs,
		sdp.NewAttribute("rtpmap", fmt.Sprintf("%d telephone-event/8000", ptTrunkDTMF)),
		sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-15", ptTrunkDTMF)),
		sdp.NewAttribute("ptime", "20"),
		sdp.NewPropertyAttribute("sendrecv"))
	addr := &sdp.ConnectionInformation{NetworkType: "IN", AddressType: "IP4", Address: &sdp.Address{Address: "127.0.0.1"}}
	desc := sdp.SessionDescription{
		Origin:                sdp.Origin{Username: "trunk", SessionID: 1, SessionVersion: 1, NetworkType: "IN", AddressType: "IP4", UnicastAddress: "127.0.0.1"},
		SessionName:           "-",
		ConnectionInformation: addr,
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName:  sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: int(port)}, Protos: []string{"RTP", "AVP"}, Formats: formats},
			Attributes: attrs,
		}},
	}
	out, err := desc.Marshal()
	if err != nil {
		// The description is built from constants above; Marshal cannot fail.
		return nil
	}

	return out
}

// remoteMedia is what the fake trunk reads from the gateway's SDP.
type remoteMedia struct {
	addr    netip.AddrPort
	audioPT uint8 // first G.711 format of the audio section
	eventPT uint8 // telephone-event payload type, 0 when absent
}

// parseRemoteSDP reads the audio address and formats of body.
func parseRemoteSDP(body []byte) (remoteMedia, error) {
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(body); err != nil {
		return remoteMedia{}, fmt.Errorf("gateway sdp: %w", err)
	}
	for _, m := range desc.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		conn := desc.ConnectionInformation
		if m.ConnectionInformation != nil {
			conn = m.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return remoteMedia{}, errors.New("gateway sdp: no c= line")
		}
		ip, err := netip.ParseAddr(conn.Address.Address)
		if err != nil {
			return remoteMedia{}, fmt.Errorf("gateway sdp: c= address: %w", err)
		}
		rm := remoteMedia{addr: netip.AddrPortFrom(ip, uint16(m.MediaName.Port.Value)), audioPT: 255}
		for _, f := range m.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if (pt == ptPCMU || pt == ptPCMA) && rm.audioPT == 255 {
				rm.audioPT = uint8(pt)
			}
			if codec, err := desc.GetCodecForPayloadType(uint8(pt)); err == nil && codec.Name == "telephone-event" {
				rm.eventPT = uint8(pt)
			}
		}
		if rm.audioPT == 255 {
			return remoteMedia{}, fmt.Errorf("gateway sdp: no G.711 format in %v", m.MediaName.Formats)
		}

		return rm, nil
	}

	return remoteMedia{}, errors.New("gateway sdp: no audio section")
}
