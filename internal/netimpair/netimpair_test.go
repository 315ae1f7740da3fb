package netimpair

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// through sends n numbered RTP-like packets, one a millisecond (a paced
// sender, as media is), through a relay with
// impairment up and returns the numbers the server received, in order,
// and the relay's counters.
func through(t *testing.T, up Impairment, seed uint64, n int) ([]uint32, Stats) {
	t.Helper()
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	r := Start(t, srv.LocalAddr().(*net.UDPAddr).AddrPort(), up, Impairment{}, seed)
	cl, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(r.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	got := make(chan []uint32, 1)
	go func() {
		var seen []uint32
		buf := make([]byte, 64)
		for {
			_ = srv.SetReadDeadline(time.Now().Add(time.Second))
			m, err := srv.Read(buf)
			if err != nil || m < 5 {
				got <- seen
				return
			}
			seen = append(seen, binary.BigEndian.Uint32(buf[1:5]))
		}
	}()
	pkt := make([]byte, 5)
	pkt[0] = 0x80
	for i := range n {
		binary.BigEndian.PutUint32(pkt[1:], uint32(i))
		if _, err := cl.Write(pkt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	// The server has everything once a second passed without a packet.
	return <-got, r.Up()
}

func TestRelayImpairs(t *testing.T) {
	tests := []struct {
		name     string
		imp      Impairment
		minLoss  uint64
		maxLoss  uint64
		reorders bool
		dups     bool
	}{
		{"clean", Impairment{RTPOnly: true}, 0, 0, false, false},
		{"5% loss", Impairment{Loss: 0.05, RTPOnly: true}, 10, 45, false, false},
		{"jitter and reordering", Impairment{Jitter: 30 * time.Millisecond, Reorder: 0.1, RTPOnly: true}, 0, 0, true, false},
		{"duplication", Impairment{Duplicate: 0.1, RTPOnly: true}, 0, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen, st := through(t, tt.imp, 7, 500)
			if st.Received != 500 || st.Dropped < tt.minLoss || st.Dropped > tt.maxLoss {
				t.Errorf("stats %+v, want 500 received and %d-%d dropped", st, tt.minLoss, tt.maxLoss)
			}
			if uint64(len(seen)) != 500-st.Dropped+st.Duplicated {
				t.Errorf("server got %d packets, stats %+v", len(seen), st)
			}
			inversions, dups := 0, 0
			for i := 1; i < len(seen); i++ {
				switch {
				case seen[i] < seen[i-1]:
					inversions++
				case seen[i] == seen[i-1]:
					dups++
				}
			}
			if (inversions > 0) != tt.reorders || (dups > 0) != tt.dups {
				t.Errorf("%d inversions and %d duplicates, want reordering %v and duplicates %v", inversions, dups, tt.reorders, tt.dups)
			}
		})
	}
}

// The same seed drops the same packets.
func TestRelayIsDeterministic(t *testing.T) {
	imp := Impairment{Loss: 0.1, RTPOnly: true}
	a, _ := through(t, imp, 42, 200)
	b, _ := through(t, imp, 42, 200)
	if len(a) != len(b) {
		t.Fatalf("%d and %d packets through with the same seed", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("packet %d: %d and %d", i, a[i], b[i])
		}
	}
}
