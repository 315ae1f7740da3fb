package browserleg

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/config"
)

func TestSettingsValidate(t *testing.T) {
	ap := netip.MustParseAddrPort
	ip := netip.MustParseAddr
	tests := []struct {
		name     string
		s        Settings
		ok       bool
		networks []webrtc.NetworkType
	}{
		{"loopback", Settings{UDPListen: ap("127.0.0.1:0")}, true, []webrtc.NetworkType{webrtc.NetworkTypeUDP4}},
		{"specific with public", Settings{UDPListen: ap("10.0.0.5:50000"), PublicIPs: []netip.Addr{ip("203.0.113.5")}}, true,
			[]webrtc.NetworkType{webrtc.NetworkTypeUDP4}},
		{"all IPv4 with public", Settings{UDPListen: ap("0.0.0.0:50000"), PublicIPs: []netip.Addr{ip("203.0.113.5")}}, true,
			[]webrtc.NetworkType{webrtc.NetworkTypeUDP4}},
		{"all families, v4 public only", Settings{UDPListen: ap("[::]:50000"), PublicIPs: []netip.Addr{ip("203.0.113.5")}}, true,
			[]webrtc.NetworkType{webrtc.NetworkTypeUDP4}},
		{"all families, both public", Settings{UDPListen: ap("[::]:50000"), TCPListen: ap("[::]:50000"), PublicIPs: []netip.Addr{ip("203.0.113.5"), ip("2001:db8::5")}}, true,
			[]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6}},
		{"IPv6 specific", Settings{UDPListen: ap("[2001:db8::1]:50000")}, true, []webrtc.NetworkType{webrtc.NetworkTypeUDP6}},
		{"with ICE-TCP", Settings{UDPListen: ap("127.0.0.1:0"), TCPListen: ap("127.0.0.1:0")}, true,
			[]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4}},
		{"timers", Settings{UDPListen: ap("127.0.0.1:0"), ICEFailedTimeout: 10 * time.Second}, true, []webrtc.NetworkType{webrtc.NetworkTypeUDP4}},

		{"no listen", Settings{}, false, nil},
		{"unspecified port 0", Settings{UDPListen: ap("0.0.0.0:0"), PublicIPs: []netip.Addr{ip("203.0.113.5")}}, false, nil},
		{"unspecified without public", Settings{UDPListen: ap("0.0.0.0:50000")}, false, nil},
		{"tcp unspecified without public", Settings{UDPListen: ap("127.0.0.1:0"), TCPListen: ap("0.0.0.0:443")}, false, nil},
		{"multicast listen", Settings{UDPListen: ap("224.0.0.1:50000")}, false, nil},
		{"mapped listen", Settings{UDPListen: ap("[::ffff:10.0.0.1]:50000")}, false, nil},
		{"unspecified public", Settings{UDPListen: ap("127.0.0.1:0"), PublicIPs: []netip.Addr{ip("0.0.0.0")}}, false, nil},
		{"invalid public", Settings{UDPListen: ap("127.0.0.1:0"), PublicIPs: []netip.Addr{{}}}, false, nil},
		{"two IPv4 public", Settings{UDPListen: ap("127.0.0.1:0"), PublicIPs: []netip.Addr{ip("192.0.2.1"), ip("192.0.2.2")}}, false, nil},
		{"family mismatch", Settings{UDPListen: ap("10.0.0.5:50000"), PublicIPs: []netip.Addr{ip("2001:db8::5")}}, false, nil},
		{"negative timer", Settings{UDPListen: ap("127.0.0.1:0"), ICEKeepaliveInterval: -time.Second}, false, nil},
		{"negative RTCP report interval", Settings{UDPListen: ap("127.0.0.1:0"), RTCPReportInterval: -time.Second}, false, nil},
		{"RTCP report interval", Settings{UDPListen: ap("127.0.0.1:0"), RTCPReportInterval: 5 * time.Second}, true, []webrtc.NetworkType{webrtc.NetworkTypeUDP4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrSettings) {
					t.Fatalf("error %v does not wrap ErrSettings", err)
				}
				if _, lerr := Listen(tt.s, nil); !errors.Is(lerr, ErrSettings) {
					t.Fatalf("Listen accepted invalid settings: %v", lerr)
				}

				return
			}
			if got := tt.s.networkTypes(); !slices.Equal(got, tt.networks) {
				t.Fatalf("network types %v, want %v", got, tt.networks)
			}
		})
	}
}

func TestSettingsFromConfig(t *testing.T) {
	tests := []struct {
		name string
		c    config.WebRTCConfig
		want Settings
		ok   bool
	}{
		{"default", config.Default().WebRTC, Settings{UDPListen: netip.MustParseAddrPort("127.0.0.1:50000")}, true},
		{"public and tcp", config.WebRTCConfig{UDPListen: "10.0.0.5:50000", TCPListen: "10.0.0.5:443", PublicIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}},
			Settings{UDPListen: netip.MustParseAddrPort("10.0.0.5:50000"), TCPListen: netip.MustParseAddrPort("10.0.0.5:443"), PublicIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}}, true},
		{"empty host", config.WebRTCConfig{UDPListen: ":50000", PublicIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}},
			Settings{UDPListen: netip.AddrPortFrom(netip.IPv6Unspecified(), 50000), PublicIPs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}}, true},
		{"IPv6 literal", config.WebRTCConfig{UDPListen: "[2001:db8::1]:50000"}, Settings{UDPListen: netip.MustParseAddrPort("[2001:db8::1]:50000")}, true},
		{"host name", config.WebRTCConfig{UDPListen: "localhost:50000"}, Settings{}, false},
		{"no port", config.WebRTCConfig{UDPListen: "127.0.0.1"}, Settings{}, false},
		{"bad port", config.WebRTCConfig{UDPListen: "127.0.0.1:70000"}, Settings{}, false},
		{"bad tcp", config.WebRTCConfig{UDPListen: "127.0.0.1:0", TCPListen: "x"}, Settings{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SettingsFromConfig(tt.c)
			if tt.ok != (err == nil) {
				t.Fatalf("SettingsFromConfig error = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				if !errors.Is(err, ErrSettings) {
					t.Fatalf("error %v does not wrap ErrSettings", err)
				}

				return
			}
			if got.UDPListen != tt.want.UDPListen || got.TCPListen != tt.want.TCPListen || !slices.Equal(got.PublicIPs, tt.want.PublicIPs) {
				t.Fatalf("SettingsFromConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIPFilter(t *testing.T) {
	s := Settings{UDPListen: netip.MustParseAddrPort("10.0.0.5:50000"), TCPListen: netip.MustParseAddrPort("10.0.0.6:443")}
	for addr, want := range map[string]bool{"10.0.0.5": true, "10.0.0.6": true, "10.0.0.7": false, "::ffff:10.0.0.5": true, "2001:db8::1": false} {
		if got := s.ipAllowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("ipAllowed(%s) = %v, want %v", addr, got, want)
		}
	}
	all4 := Settings{UDPListen: netip.MustParseAddrPort("0.0.0.0:50000")}
	if !all4.ipAllowed(netip.MustParseAddr("192.168.1.2")) || all4.ipAllowed(netip.MustParseAddr("2001:db8::1")) {
		t.Error("0.0.0.0 must allow every IPv4 address and no IPv6 address")
	}
}
