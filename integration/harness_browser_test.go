package integration

import (
	"testing"
	"time"

	"github.com/hraban/opus"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

// TestFakeBrowserSelf connects the fake browser to a plain pion answerer
// that plays the trunk's tone as Opus: each side must hear the other's tone
// and not its own, and digits sent like RTCDTMFSender's must arrive as RFC
// 4733 events on the telephone-event payload type.
func TestFakeBrowserSelf(t *testing.T) {
	t.Parallel()
	b := newBrowserPeer(t)
	api, err := browserAPI()
	if err != nil {
		t.Fatal(err)
	}
	far, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	farHeard := newRecording(48000)
	var farDigits digitLog
	recvDone := make(chan struct{})
	far.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		defer close(recvDone)
		dec, err := opus.NewDecoder(48000, 1)
		if err != nil {
			return
		}
		buf, pcm := make([]byte, 1500), make([]int16, 5760)
		var p rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			if p.PayloadType == ptEvent48k {
				farDigits.addEvent(p.Timestamp, p.Payload)
				continue
			}
			if k, err := dec.Decode(p.Payload, pcm); err == nil {
				farHeard.add(pcm[:k])
			}
		}
	})
	farTrack, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "far", "far")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := far.AddTrack(farTrack); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	sendDone := make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		<-sendDone
		_ = far.GracefulClose()
		select {
		case <-recvDone:
		case <-time.After(5 * time.Second):
			t.Error("answerer's receive loop did not end")
		}
	})

	if err := far.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: b.offer(t)}); err != nil {
		t.Fatal(err)
	}
	answer, err := far.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(far)
	if err := far.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	go func() {
		defer close(sendDone)
		enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
		if err != nil {
			return
		}
		tone := testaudio.NewTone(trunkToneHz, 48000, toneAmp)
		pcm, payload := make([]int16, 960), make([]byte, 1275)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		p := rtp.Packet{Header: rtp.Header{Version: 2}}
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			tone.Fill(pcm)
			n, err := enc.Encode(pcm, payload)
			if err != nil {
				return
			}
			p.Payload = payload[:n]
			_ = farTrack.WriteRTP(&p)
			p.SequenceNumber++
			p.Timestamp += 960
		}
	}()
	b.applyAnswer(t, far.LocalDescription().SDP)
	b.waitConnected(t, 5*time.Second)

	waitTone(t, "answerer", farHeard, 0, browserToneHz, trunkToneHz)
	waitTone(t, "browser", b.heard, 0, trunkToneHz, browserToneHz)
	b.dtmf.enqueue("4*7")
	waitDigits(t, "answerer", &farDigits, "4*7", 5*time.Second)
}
