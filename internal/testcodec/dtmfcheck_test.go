package testcodec

import (
	"strings"
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/transcode"
)

// eventRTP is one telephone-event packet of payload type 101.
func eventRTP(t *testing.T, ts uint32, marker, end bool, dur uint16) rtp.Packet {
	t.Helper()
	payload := make([]byte, transcode.EventPayloadSize)
	if _, err := (&transcode.Event{Code: 1, End: end, Volume: 10, Duration: dur}).MarshalTo(payload); err != nil {
		t.Fatal(err)
	}

	return rtp.Packet{Header: rtp.Header{PayloadType: 101, Timestamp: ts, Marker: marker}, Payload: payload}
}

func TestWellFormedEvents(t *testing.T) {
	audio := rtp.Packet{Header: rtp.Header{PayloadType: 0}, Payload: make([]byte, 160)}
	good := func(t *testing.T, ts uint32) []rtp.Packet {
		t.Helper()

		return []rtp.Packet{
			eventRTP(t, ts, true, false, 160), eventRTP(t, ts, false, false, 320),
			eventRTP(t, ts, false, true, 320), eventRTP(t, ts, false, true, 320), eventRTP(t, ts, false, true, 320),
		}
	}
	tests := []struct {
		name    string
		packets func(t *testing.T) []rtp.Packet
		wantErr string
	}{
		{"two events and audio", func(t *testing.T) []rtp.Packet {
			return append(append(append([]rtp.Packet{audio}, good(t, 100)...), audio), good(t, 900)...)
		}, ""},
		{"end packets only", func(t *testing.T) []rtp.Packet {
			return []rtp.Packet{eventRTP(t, 1, true, true, 960), eventRTP(t, 1, true, true, 960), eventRTP(t, 1, true, true, 960)}
		}, "must start with a marked packet"},
		{"unmarked start", func(t *testing.T) []rtp.Packet { return []rtp.Packet{eventRTP(t, 1, false, false, 160)} }, "must start with a marked packet"},
		{"marker twice", func(t *testing.T) []rtp.Packet {
			return []rtp.Packet{eventRTP(t, 1, true, false, 160), eventRTP(t, 1, true, false, 320)}
		}, "marker on a packet after"},
		{"two ends", func(t *testing.T) []rtp.Packet { return good(t, 5)[:4] }, "has 2 end packets"},
		{"four ends", func(t *testing.T) []rtp.Packet { return append(good(t, 5), eventRTP(t, 5, false, true, 320)) }, "more than 3 end packets"},
		{"shorter", func(t *testing.T) []rtp.Packet {
			return []rtp.Packet{eventRTP(t, 1, true, false, 320), eventRTP(t, 1, false, false, 160)}
		}, "duration went down"},
		{"update after end", func(t *testing.T) []rtp.Packet {
			return []rtp.Packet{eventRTP(t, 1, true, false, 160), eventRTP(t, 1, false, true, 320), eventRTP(t, 1, false, false, 480)}
		}, "only its retransmissions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			events, err := WellFormedEvents(tc.packets(t), 101, true)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			case tc.wantErr == "" && (len(events) != 2 || events[1].Duration != 320 || events[1].Packets != 5 || events[1].Digit != '1'):
				t.Fatalf("events %+v, want two of digit 1, 320 samples in 5 packets", events)
			}
		})
	}
}
