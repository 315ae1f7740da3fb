package integration

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testcert"
	"github.com/webtrunk/webtrunk/internal/testconfig"
	"github.com/webtrunk/webtrunk/telephony"
)

// TestSRTPBaresip: a trunk over TLS to a real SIP phone, baresip with
// module srtp. With media_encryption sdes and baresip's mediaenc srtp-mand
// (RTP/SAVP only), and with sdes_optional and mediaenc srtp (best effort,
// RTP/AVP with keys), a browser's call to baresip and baresip's call to the
// browser's DID are each SRTP with SDES keys both ways; with sdes_optional
// and a baresip without SRTP they fall back to plain RTP. In every case the
// browser hears baresip's tone and baresip's recording holds the browser's
// (audio that crossed the gateway in each direction), and the call's log
// line names the suite (or none) and no key.
func TestSRTPBaresip(t *testing.T) {
	const phoneNumber = numberOK // baresip answers only its own number
	certFile, keyFile := srtpTestCert(t)
	both := filepath.Join(t.TempDir(), "baresip.pem")
	srtpConcat(t, both, certFile, keyFile)

	tests := []struct {
		name     string
		inbound  bool
		trunkEnc string // the trunk's media_encryption
		mediaEnc string // baresip's mediaenc; "" for none
		suite    string // the SRTP suite of the call, "" for plain RTP
	}{
		{name: "browser calls baresip, sdes", trunkEnc: "sdes", mediaEnc: "srtp-mand", suite: "AES_CM_128_HMAC_SHA1_80"},
		{name: "baresip calls the browser, sdes", inbound: true, trunkEnc: "sdes", mediaEnc: "srtp-mand", suite: "AES_CM_128_HMAC_SHA1_80"},
		// baresip's mediaenc srtp is the best-effort convention: RTP/AVP
		// with a=crypto, as sdes_optional offers.
		{name: "browser calls baresip, optional", trunkEnc: "sdes_optional", mediaEnc: "srtp", suite: "AES_CM_128_HMAC_SHA1_80"},
		{name: "baresip calls the browser, optional", inbound: true, trunkEnc: "sdes_optional", mediaEnc: "srtp", suite: "AES_CM_128_HMAC_SHA1_80"},
		// A peer without SRTP: sdes_optional falls back to plain RTP.
		{name: "browser calls baresip without srtp, optional", trunkEnc: "sdes_optional"},
		{name: "baresip without srtp calls the browser, optional", inbound: true, trunkEnc: "sdes_optional"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			phone := baresipStartWith(t, phoneNumber, trunkToneHz, baresipOptions{TLSCert: both, MediaEnc: tc.mediaEnc, Dials: tc.inbound})
			logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
			c := newGatewayConfig("carrier", phone.tlsPort(), testconfig.User{ID: userAlice})
			c.Trunk.Transport = string(telephony.TransportTLS)
			c.Trunk.Extra = "    media_encryption: " + tc.trunkEnc
			c.TLSCert, c.TLSKey, c.TLSCAFile = certFile, keyFile, certFile
			e := startGateway(t, c, logger, logs)
			b := e.login(t, userAlice)
			peer := newPeer(t)

			var id string
			if tc.inbound {
				gwTLS, ok := e.gw.SIPAddr(telephony.TransportTLS)
				if !ok {
					t.Fatal("the gateway has no SIP TLS listener")
				}
				phone.command(t, "dial", "sip:"+didAlice+"@"+gwTLS.String()+";transport=tls")
				in := b.ws.ExpectIncoming(t, didAlice)
				if in.From != phoneNumber {
					t.Errorf("incoming from %q, want %q", in.From, phoneNumber)
				}
				id = in.CallID
				b.ws.Accept(t, id, peer)
			} else {
				id = newCallID()
				b.ws.Dial(t, id, phoneNumber, peer)
			}
			b.ws.Expect(t, "connected "+id, gobrowser.Is[signaling.Connected](id))
			phone.waitEvent(t, "CALL_ESTABLISHED", 20*time.Second)
			peer.WaitConnected(t)
			rep := peer.Heard().WaitTone(t, "browser", 0, trunkToneHz, browserToneHz)
			t.Logf("the browser hears baresip: %+v", rep)
			// Give baresip's recording some seconds of the browser's tone.
			peer.Heard().WaitSamples(t, peer.Heard().Len()+3*8000)

			b.ws.HangUp(t, id)
			phone.waitEvent(t, "CALL_CLOSED", 10*time.Second)
			line := logs.WaitLine(t, `msg="call ended"`)
			// baresip (libre) sends two RTCP packets in clear: an APP
			// "PINGPONG" as the call starts and a BYE as it ends; SRTCP
			// drops them (RFC 3711 section 3.4) and counts them, unless
			// they arrive before the answer or after the hangup. Any more
			// would be RTP that failed.
			clearRTCP := strings.Contains(line, "srtp_failed=0") || strings.Contains(line, "srtp_failed=1") || strings.Contains(line, "srtp_failed=2")
			switch {
			case tc.suite == "" && strings.Contains(line, "srtp="):
				t.Errorf("call ended line names SRTP for a call in plain RTP: %s", line)
			case tc.suite != "" && (!strings.Contains(line, "srtp="+tc.suite) || !clearRTCP):
				t.Errorf("call ended line without srtp=%s, or with more failed packets than baresip's clear RTCP: %s", tc.suite, line)
			}
			if strings.Contains(logs.String(), "inline:") {
				t.Error("the gateway logged an SDES key (inline:)")
			}
			phone.stop(t)
			passing := phone.heardTone(t, browserToneHz, trunkToneHz, 2*time.Second)
			t.Logf("baresip heard the browser in %d windows", passing)
			if out := phone.out.String(); tc.suite != "" && !strings.Contains(out, "Using media encryption '"+tc.mediaEnc+"'") {
				t.Errorf("baresip's output does not show media encryption %s:\n%s", tc.mediaEnc, out)
			}
		})
	}
}

// srtpTestCert writes a certificate for 127.0.0.1 and its key as PEM
// files and returns their names.
func srtpTestCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	cert, _ := testcert.SelfSigned(t)
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for name, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: cert.Certificate[0]},
		keyFile:  {Type: "PRIVATE KEY", Bytes: key},
	} {
		if err := os.WriteFile(name, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	return certFile, keyFile
}

// srtpConcat writes the files' contents one after the other into name.
func srtpConcat(t *testing.T, name string, files ...string) {
	t.Helper()
	var all []byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	if err := os.WriteFile(name, all, 0o600); err != nil {
		t.Fatal(err)
	}
}
