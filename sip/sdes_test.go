package sip

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// testKey is a master key and salt with recognisable bytes.
func testKey(b byte) masterKey {
	var k masterKey
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func TestParseCrypto(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(func() []byte { k := testKey(1); return k[:] }())
	tests := []struct {
		name      string
		value     string
		wantKnown bool
		wantErr   bool
		wantTag   int
		wantSuite int
	}{
		{"suite 80", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key, true, false, 1, 0},
		{"suite 32 with lifetime", "7 AES_CM_128_HMAC_SHA1_32 inline:" + key + "|2^31", true, false, 7, 1},
		{"numeric lifetime", "2 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|1048576", true, false, 2, 0},
		{"mki is skipped", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:4", false, false, 1, 0},
		{"unknown suite is skipped", "1 AEAD_AES_256_GCM inline:" + key, false, false, 1, -1},
		{"session parameter is skipped", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key + " UNENCRYPTED_SRTP", false, false, 1, 0},
		{"two keys are skipped", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key + ";inline:" + key, false, false, 1, 0},
		{"too few fields", "1 AES_CM_128_HMAC_SHA1_80", false, true, 0, 0},
		{"tag not a number", "x AES_CM_128_HMAC_SHA1_80 inline:" + key, false, true, 0, 0},
		{"not inline", "1 AES_CM_128_HMAC_SHA1_80 uri:https://example.net/k", false, true, 1, 0},
		{"key not base64", "1 AES_CM_128_HMAC_SHA1_80 inline:@@@@", false, true, 1, 0},
		{"key too short", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key[:20], false, true, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attr, known, err := parseCrypto(tc.value)
			if (err != nil) != tc.wantErr || known != tc.wantKnown {
				t.Fatalf("parseCrypto(%q) = known %v, err %v; want known %v, error %v", tc.value, known, err, tc.wantKnown, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrBadCrypto) {
					t.Errorf("error %v does not wrap ErrBadCrypto", err)
				}
				if strings.Contains(err.Error(), key[:12]) {
					t.Errorf("error %q quotes the key", err)
				}
				if code, _ := statusFor(err); code != 488 {
					t.Errorf("status for %v = %d, want 488", err, code)
				}
				return
			}
			if attr.tag != tc.wantTag || attr.suite != tc.wantSuite {
				t.Errorf("tag %d suite %d, want %d and %d", attr.tag, attr.suite, tc.wantTag, tc.wantSuite)
			}
			if known && attr.key != testKey(1) {
				t.Error("key not decoded")
			}
			if known {
				if again, _, _ := parseCrypto(attr.String()); again.key != attr.key || again.tag != attr.tag {
					t.Errorf("String() %q does not parse back", attr.String())
				}
			}
		})
	}
}

// sdesOffer is an SDP offer with one audio stream of proto and the given a=crypto values.
func sdesOffer(proto string, crypto ...string) []byte {
	lines := []string{"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", "m=audio 4000 " + proto + " 0", "a=rtpmap:0 PCMU/8000"}
	for _, c := range crypto {
		lines = append(lines, "a=crypto:"+c)
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// TestChooseOfferCrypto: which offers each media encryption accepts, and with which keys.
func TestChooseOfferCrypto(t *testing.T) {
	k := testKey(9)
	key := base64.StdEncoding.EncodeToString(k[:])
	ours := [len(cryptoSuites)]masterKey{testKey(100), testKey(200)}
	good80 := "3 AES_CM_128_HMAC_SHA1_80 inline:" + key
	good32 := "4 AES_CM_128_HMAC_SHA1_32 inline:" + key
	mki := "5 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^31|1:4"
	tests := []struct {
		name    string
		enc     MediaEncryption
		body    []byte
		wantErr bool
		wantOK  bool
		tag     int
		suite   int
	}{
		{"none ignores crypto on AVP", EncryptionNone, sdesOffer("RTP/AVP", good80), false, false, 0, 0},
		{"sdes takes SAVP", EncryptionSDES, sdesOffer("RTP/SAVP", good32, good80), false, true, 4, 1},
		{"sdes skips unusable lines", EncryptionSDES, sdesOffer("RTP/SAVP", mki, good80), false, true, 3, 0},
		{"sdes takes AVP with crypto", EncryptionSDES, sdesOffer("RTP/AVP", good80), false, true, 3, 0},
		{"sdes refuses plain AVP", EncryptionSDES, sdesOffer("RTP/AVP"), true, false, 0, 0},
		{"sdes refuses only MKI lines", EncryptionSDES, sdesOffer("RTP/SAVP", mki), true, false, 0, 0},
		{"sdes refuses a malformed line", EncryptionSDES, sdesOffer("RTP/SAVP", good80, "1 AES_CM_128_HMAC_SHA1_80 inline:short"), true, false, 0, 0},
		{"optional takes plain AVP", EncryptionSDESOptional, sdesOffer("RTP/AVP"), false, false, 0, 0},
		{"optional takes AVP with crypto", EncryptionSDESOptional, sdesOffer("RTP/AVP", good80), false, true, 3, 0},
		{"optional refuses SAVP without keys", EncryptionSDESOptional, sdesOffer("RTP/SAVP", mki), true, false, 0, 0},
		{"optional refuses a malformed line", EncryptionSDESOptional, sdesOffer("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80"), true, false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md, err := parseSDP(tc.body, tc.enc.enabled())
			if err != nil {
				t.Fatalf("parseSDP: %v", err)
			}
			keys, tag, err := chooseOfferCrypto(tc.enc, md, &ours)
			ok := keys != nil
			if (err != nil) != tc.wantErr || ok != tc.wantOK {
				t.Fatalf("chooseOfferCrypto = ok %v, err %v; want ok %v, error %v", ok, err, tc.wantOK, tc.wantErr)
			}
			if err != nil {
				if code, _ := statusFor(err); code != 488 {
					t.Errorf("status for %v = %d, want 488", err, code)
				}
				return
			}
			if ok && (tag != tc.tag || keys.suite != tc.suite || keys.peer != k || keys.local != ours[tc.suite]) {
				t.Errorf("tag %d suite %d, want tag %d suite %d with the offer's key and ours for the suite", tag, keys.suite, tc.tag, tc.suite)
			}
		})
	}
	if _, err := ParseSDP(sdesOffer("RTP/SAVP", good80)); !errors.Is(err, ErrNoAudio) {
		t.Errorf("ParseSDP of an RTP/SAVP offer: %v, want ErrNoAudio (488) for a trunk without SDES", err)
	}
}

// srtpPair returns two conns sending to each other, keyed as the two ends of one SDES call:
// a's key is b's peer key and the other way round. pool gives the conns' ports.
func srtpPair(tb testing.TB, suite int, pool *PortPool) (a, b *RTPConn) {
	tb.Helper()
	a, b = listen(tb, pool), listen(tb, pool)
	a.SetRemote(b.LocalAddr(), netip.AddrPort{})
	b.SetRemote(a.LocalAddr(), netip.AddrPort{})
	ka, kb := newMasterKey(), newMasterKey()
	if err := a.setSRTP(&srtpKeys{suite: suite, local: ka, peer: kb}); err != nil {
		tb.Fatal(err)
	}
	if err := b.setSRTP(&srtpKeys{suite: suite, local: kb, peer: ka}); err != nil {
		tb.Fatal(err)
	}
	return a, b
}

// TestSRTPConn: packets protected by one conn are unprotected by the other for both suites,
// RTP and RTCP; what crosses the wire is not the plain packet; a packet with a broken tag or a
// replay is dropped and counted, and a forged packet does not latch.
func TestSRTPConn(t *testing.T) {
	for suite := range cryptoSuites {
		t.Run(cryptoSuites[suite].name, func(t *testing.T) {
			buf := make([]byte, 1500)
			// The wire carries ciphertext with a tag: a spy on the negotiated IP takes a's
			// packet and relays it to b, first forged from another port.
			pool := newTestPool(t, 4)
			a, b := srtpPair(t, suite, pool)
			spy, forger := newPeer(t), newPeer(t)
			a.SetRemote(addrOf(spy), netip.AddrPort{})
			pkt := rtpPacket(0, 4)
			if _, err := a.WriteRTP(pkt); err != nil {
				t.Fatal(err)
			}
			_ = spy.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := spy.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			wantLen := len(pkt) + 10
			if suite == 1 {
				wantLen = len(pkt) + 4
			}
			if n != wantLen || bytes.Equal(buf[rtpHeaderLen:len(pkt)], pkt[rtpHeaderLen:]) {
				t.Fatalf("on the wire %d bytes, want %d with an encrypted payload", n, wantLen)
			}
			wire := bytes.Clone(buf[:n])
			broken := bytes.Clone(wire)
			broken[len(broken)-1] ^= 1
			send(t, forger, broken, b.LocalAddr())
			send(t, spy, wire, b.LocalAddr())
			_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := b.ReadRTP(buf); err != nil || !bytes.Equal(buf[:n], pkt) {
				t.Fatalf("ReadRTP of the relayed packet: %d, %v; want the plain packet", n, err)
			}
			if got := b.RemoteAddr(); got != addrOf(spy) {
				t.Errorf("b latched to %v, want the source of the authentic packet %v", got, addrOf(spy))
			}
			send(t, spy, wire, b.LocalAddr()) // a replay
			_ = b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, err := b.ReadRTP(buf); err == nil {
				t.Fatalf("ReadRTP returned %d bytes of a replayed packet", n)
			}
			if got := b.Stats().SRTPFailed; got != 2 {
				t.Errorf("SRTPFailed = %d, want 2 (the forged packet and the replay)", got)
			}

			// Both ways between two conns, RTP and RTCP.
			a, b = srtpPair(t, suite, pool)
			for seq := uint16(1); seq <= 3; seq++ {
				for _, dir := range [][2]*RTPConn{{a, b}, {b, a}} {
					pkt := rtpPacket(0, seq)
					orig := bytes.Clone(pkt)
					if n, err := dir[0].WriteRTP(pkt); err != nil || n != len(pkt) {
						t.Fatalf("WriteRTP = %d, %v", n, err)
					}
					if !bytes.Equal(pkt, orig) {
						t.Fatal("WriteRTP changed the caller's packet")
					}
					_ = dir[1].SetReadDeadline(time.Now().Add(5 * time.Second))
					n, err := dir[1].ReadRTP(buf)
					if err != nil || !bytes.Equal(buf[:n], pkt) {
						t.Fatalf("ReadRTP = %d bytes, %v; want the plain packet back", n, err)
					}
				}
			}
			got := make(chan []byte, 1)
			b.SetRTCPHandler(func(p []byte) { got <- bytes.Clone(p) })
			b.startRTCPReader()
			if _, err := a.WriteRTCP(receiverReport); err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-got:
				if !bytes.Equal(p, receiverReport) {
					t.Errorf("RTCP handler got % x, want % x", p, receiverReport)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no RTCP packet reached the other conn")
			}
		})
	}
}

// TestSRTPAllocs: protecting and unprotecting packets allocates nothing. pion/srtp takes its
// keystream scratch from a sync.Pool, which the race detector empties at random, so the count
// holds only without -race (BenchmarkRTPProtect reports it too).
func TestSRTPAllocs(t *testing.T) {
	if raceDetector {
		t.Skip("allocations are counted without -race: the race detector empties sync.Pools at random")
	}
	a, b := srtpPair(t, 0, newTestPool(t, 2))
	buf := make([]byte, 1500)
	seq := uint16(0)
	pkt := rtpPacket(0, 1)
	allocs := testing.AllocsPerRun(200, func() {
		seq++
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		if _, err := a.WriteRTP(pkt); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ReadRTP(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("SRTP write and read allocate %.1f times per packet, want 0", allocs)
	}
}

// BenchmarkRTPProtect compares a packet's way out and back (WriteRTP on one conn, ReadRTP on
// the other) in plain RTP and with each SRTP suite, interleaved in one run.
func BenchmarkRTPProtect(b *testing.B) {
	for _, mode := range []struct {
		name  string
		suite int
	}{{"plain", -1}, {"AES_CM_128_HMAC_SHA1_80", 0}, {"AES_CM_128_HMAC_SHA1_32", 1}} {
		b.Run(mode.name, func(b *testing.B) {
			var x, y *RTPConn
			if mode.suite < 0 {
				pool := newTestPool(b, 2)
				x, y = listen(b, pool), listen(b, pool)
				x.SetRemote(y.LocalAddr(), netip.AddrPort{})
				y.SetRemote(x.LocalAddr(), netip.AddrPort{})
			} else {
				x, y = srtpPair(b, mode.suite, newTestPool(b, 2))
			}
			benchPackets(b, func(pkt, buf []byte) error {
				if _, err := x.WriteRTP(pkt); err != nil {
					return err
				}
				_, err := y.ReadRTP(buf)
				return err
			})
		})
	}
}

// sdesUAs starts two user agents joined by a TLS trunk: caller dials callee's TLS listener,
// each with its media encryption.
func sdesUAs(t *testing.T, callerEnc, calleeEnc MediaEncryption) (caller, callee *testEnv) {
	t.Helper()
	serverTLS, clientTLS := streamTLS(t)
	callee = startUA(t, Config{
		Listeners: []Listener{
			{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTLS, Addr: "127.0.0.1:0", TLS: serverTLS},
		},
		ClientTLS: clientTLS,
		Trunks:    []Trunk{{Name: "caller", Host: "127.0.0.1", Transport: telephony.TransportTLS, MediaEncryption: calleeEnc}},
	})
	tlsAddr, ok := callee.ua.ListenAddr(telephony.TransportTLS)
	if !ok {
		t.Fatal("callee has no TLS listener")
	}
	port := int(tlsAddr.Port())
	caller = startUA(t, Config{
		Listeners: []Listener{
			{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTLS, Addr: "127.0.0.1:0", TLS: serverTLS},
		},
		ClientTLS: clientTLS,
		Trunks:    []Trunk{{Name: "callee", Host: "127.0.0.1", Port: port, Transport: telephony.TransportTLS, MediaEncryption: callerEnc}},
	})
	// Cleanups run last first: stop the callee before the caller's cleanup looks for leaks.
	t.Cleanup(callee.shutdown)
	return caller, callee
}

// TestSDESCall: two user agents over TLS negotiate SDES as their media encryption settings
// allow, and the media of an established call is SRTP both ways (each side reads the other's
// packets back as plain RTP), or the offer is refused with 488.
func TestSDESCall(t *testing.T) {
	tests := []struct {
		name             string
		caller, callee   MediaEncryption
		wantProto        string
		wantSuite        string
		wantRefusedCode  int
		wantCryptoInBody bool
	}{
		{"sdes both", EncryptionSDES, EncryptionSDES, "RTP/SAVP", "AES_CM_128_HMAC_SHA1_80", 0, true},
		{"optional both", EncryptionSDESOptional, EncryptionSDESOptional, "RTP/AVP", "AES_CM_128_HMAC_SHA1_80", 0, true},
		{"optional caller, plain callee", EncryptionSDESOptional, EncryptionNone, "RTP/AVP", "", 0, true},
		{"plain caller, optional callee", EncryptionNone, EncryptionSDESOptional, "RTP/AVP", "", 0, false},
		{"sdes caller, plain callee", EncryptionSDES, EncryptionNone, "", "", 488, true},
		{"plain caller, sdes callee", EncryptionNone, EncryptionSDES, "", "", 488, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			caller, callee := sdesUAs(t, tc.caller, tc.callee)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			dialed := dialAsync(ctx, caller, DialRequest{Trunk: "callee", To: "+15557654321"})
			if tc.wantRefusedCode != 0 {
				var se *StatusError
				if err := await(t, dialed, "Dial").err; !errors.As(err, &se) || se.Code != tc.wantRefusedCode {
					t.Fatalf("Dial error %v, want StatusError %d", err, tc.wantRefusedCode)
				}
				return
			}
			ic := awaitIncoming(t, callee)
			answered := answerAsync(ctx, ic)
			res := await(t, dialed, "Dial")
			if res.err != nil {
				t.Fatalf("Dial: %v", res.err)
			}
			got := await(t, answered, "Answer")
			if got.err != nil {
				t.Fatalf("Answer: %v", got.err)
			}
			out, in := res.call, got.call
			defer func() { _ = out.Hangup(context.Background()) }()
			if s := out.Media().SRTP; s != tc.wantSuite {
				t.Errorf("caller's SRTP suite %q, want %q", s, tc.wantSuite)
			}
			if s := in.Media().SRTP; s != tc.wantSuite {
				t.Errorf("callee's SRTP suite %q, want %q", s, tc.wantSuite)
			}
			if ic.offer.Secure != (tc.wantProto == "RTP/SAVP") || (len(ic.offer.crypto.attrs) > 0) != tc.wantCryptoInBody {
				t.Errorf("offer: secure %v with %d a=crypto lines; want proto %s, crypto %v", ic.offer.Secure, len(ic.offer.crypto.attrs), tc.wantProto, tc.wantCryptoInBody)
			}
			// Media both ways: each side's reader sees the other's plain packets.
			buf := make([]byte, 1500)
			for _, dir := range []struct {
				name     string
				from, to *RTPConn
			}{{"caller to callee", out.RTP(), in.RTP()}, {"callee to caller", in.RTP(), out.RTP()}} {
				pkt := rtpPacket(0, 77)
				if _, err := dir.from.WriteRTP(pkt); err != nil {
					t.Fatalf("%s: WriteRTP: %v", dir.name, err)
				}
				_ = dir.to.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := dir.to.ReadRTP(buf)
				if err != nil || !bytes.Equal(buf[:n], pkt) {
					t.Fatalf("%s: ReadRTP %d bytes, %v; want the packet sent", dir.name, n, err)
				}
			}
		})
	}
}

// errUnprotectFailed stands for a packet the peer's contexts did not accept.
var errUnprotectFailed = errors.New("sip: test: unprotect failed")

// BenchmarkSRTPCrypto measures the cryptography alone of one 20 ms PCMU packet's way (protect
// with our key, then authenticate and decrypt in place with the peer's contexts), without
// sockets, for each suite.
func BenchmarkSRTPCrypto(b *testing.B) {
	for suite := range cryptoSuites {
		b.Run(cryptoSuites[suite].name, func(b *testing.B) {
			key := newMasterKey()
			out, err := newSRTPOut(suite, key)
			if err != nil {
				b.Fatal(err)
			}
			in, err := newSRTPIn(suite, key)
			if err != nil {
				b.Fatal(err)
			}
			benchPackets(b, func(pkt, buf []byte) error {
				wire, err := out.protect(pkt, flowRTP)
				if err != nil {
					return err
				}
				if _, ok := in.unprotect(buf, copy(buf, wire), flowRTP); !ok {
					return errUnprotectFailed
				}
				return nil
			})
		})
	}
}

// TestSDESBadCryptoOffer: an INVITE over TLS to a trunk configured for SDES whose a=crypto
// lines cannot be used is answered 488 Not Acceptable Here (RFC 4568 section 7.1.2) with a
// Warning that says why without quoting the key, and no call is offered.
func TestSDESBadCryptoOffer(t *testing.T) {
	k := testKey(3)
	key := base64.StdEncoding.EncodeToString(k[:])
	tests := []struct {
		name, crypto, warning string
	}{
		{"key too short", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key[:24], "key and salt of 18 bytes"},
		{"key not base64", "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!" + key[4:], "not base64"},
		{"not inline", "1 AES_CM_128_HMAC_SHA1_80 uri:https://keys.example/1", "not inline"},
		{"only an MKI line", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^31|1:4", "no a=crypto line with a suite of ours"},
	}
	serverTLS, clientTLS := streamTLS(t)
	trunk := inboundTrunk()
	trunk.Transport, trunk.MediaEncryption = telephony.TransportTLS, EncryptionSDES
	env := startUA(t, Config{
		Listeners: []Listener{
			{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTLS, Addr: "127.0.0.1:0", TLS: serverTLS},
		},
		Trunks: []Trunk{trunk},
	})
	addr, _ := env.ua.ListenAddr(telephony.TransportTLS)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := (&tls.Dialer{Config: clientTLS}).DialContext(t.Context(), "tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			peer := newStreamPeer(t, conn)
			local := conn.LocalAddr().String()
			body := sdesOffer("RTP/SAVP", tc.crypto)
			inv := "INVITE sip:15550100@" + addr.String() + ";transport=tls SIP/2.0\r\n" +
				"Via: SIP/2.0/TLS " + local + ";branch=z9hG4bK-bad-crypto-" + strconv.Itoa(i) + "\r\n" +
				"Max-Forwards: 70\r\n" +
				"From: <sip:15557770001@127.0.0.1>;tag=caller" + strconv.Itoa(i) + "\r\n" +
				"To: <sip:15550100@127.0.0.1>\r\n" +
				"Call-ID: bad-crypto-" + strconv.Itoa(i) + "@127.0.0.1\r\n" +
				"CSeq: 1 INVITE\r\n" +
				"Contact: <sip:15557770001@" + local + ";transport=tls>\r\n" +
				"Content-Type: application/sdp\r\n" +
				"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
			if _, err := conn.Write([]byte(inv)); err != nil {
				t.Fatal(err)
			}
			res := peer.final(10 * time.Second)
			if res == nil || res.StatusCode != 488 {
				t.Fatalf("final response %v, want 488", res)
			}
			w := res.GetHeader("Warning")
			if w == nil || !strings.Contains(w.Value(), tc.warning) || strings.Contains(w.Value(), key[:12]) {
				t.Errorf("Warning %v, want it to contain %q and no key", w, tc.warning)
			}
			select {
			case ic := <-env.incoming:
				t.Errorf("an INVITE with unusable crypto was offered as a call from %s", ic.call.From())
			default:
			}
		})
	}
}
