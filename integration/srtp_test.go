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

// TestSRTPBaresip: a trunk with media_encryption sdes over TLS to a real
// SIP phone, baresip with module srtp and mediaenc srtp-mand (it accepts
// and offers RTP/SAVP only). A browser's call to baresip and baresip's call
// to the browser's DID are each SRTP with SDES keys both ways: the browser
// hears baresip's tone, baresip's recording holds the browser's tone (audio
// that crossed the gateway's SRTP in each direction), and the call's log
// line names the suite and no packet failed authentication.
func TestSRTPBaresip(t *testing.T) {
	const phoneNumber = numberOK // baresip answers only its own number
	certFile, keyFile := srtpTestCert(t)
	both := filepath.Join(t.TempDir(), "baresip.pem")
	srtpConcat(t, both, certFile, keyFile)

	tests := []struct {
		name    string
		inbound bool
	}{
		{name: "browser calls baresip"},
		{name: "baresip calls the browser", inbound: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			phone := baresipStartWith(t, phoneNumber, trunkToneHz, baresipOptions{TLSCert: both, MediaEnc: "srtp-mand", Dials: tc.inbound})
			logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
			c := newGatewayConfig("carrier", phone.tlsPort(), testconfig.User{ID: userAlice})
			c.Trunk.Transport = string(telephony.TransportTLS)
			c.Trunk.Extra = "    media_encryption: sdes"
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
			t.Logf("the browser hears baresip over SRTP: %+v", rep)
			// Give baresip's recording some seconds of the browser's tone.
			peer.Heard().WaitSamples(t, peer.Heard().Len()+3*8000)

			b.ws.Send(t, signaling.Hangup{CallID: id})
			b.ws.ExpectHangup(t, id, signaling.ReasonLocalHangup, 0)
			phone.waitEvent(t, "CALL_CLOSED", 10*time.Second)
			line := logs.WaitLine(t, `msg="call ended"`)
			// baresip (libre) sends two RTCP packets in clear: an APP
			// "PINGPONG" as the call starts and a BYE as it ends; SRTCP
			// drops them (RFC 3711 section 3.4) and counts them, unless
			// they arrive before the answer or after the hangup. Any more
			// would be RTP that failed.
			clearRTCP := strings.Contains(line, "srtp_failed=0") || strings.Contains(line, "srtp_failed=1") || strings.Contains(line, "srtp_failed=2")
			if !strings.Contains(line, "srtp=AES_CM_128_HMAC_SHA1_80") || !clearRTCP {
				t.Errorf("call ended line without the SRTP suite, or with more failed packets than baresip's clear RTCP: %s", line)
			}
			if strings.Contains(logs.String(), "inline:") {
				t.Error("the gateway logged an SDES key (inline:)")
			}
			phone.stop(t)
			passing := phone.heardTone(t, browserToneHz, trunkToneHz, 2*time.Second)
			t.Logf("baresip heard the browser over SRTP in %d windows", passing)
			if out := phone.out.String(); !strings.Contains(out, "srtp") {
				t.Errorf("baresip's output does not mention srtp:\n%s", out)
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
