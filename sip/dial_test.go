package sip

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/telephony"
)

// sippTrunk is a trunk pointing at a sipp UAS.
func sippTrunk(s *sipp.Proc) Trunk {
	return Trunk{
		Name:     "carrier",
		Host:     "127.0.0.1",
		Port:     s.Port(),
		CallerID: "+15551230000",
		Username: "alice",
		Password: "secret",
		Realm:    "trunk.test",
	}
}

// sippDial places r (to +15557654321 through trunk "carrier" unless it says otherwise) towards
// sipp s and fails the test, with sipp's log, unless the call is established. The context it
// returns bounds the test's further SIP exchanges (20 s).
func sippDial(t *testing.T, s *sipp.Proc, env *testEnv, r DialRequest) (*Call, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	if r.Trunk == "" {
		r.Trunk = "carrier"
	}
	if r.To == "" {
		r.To = "+15557654321"
	}
	call, err := env.ua.Dial(ctx, r)
	if err != nil {
		t.Fatalf("Dial: %v\n%s", err, s.Report())
	}
	return call, ctx
}

// TestDialEchoAudio calls a sipp UAS that answers and echoes RTP: the tone we send comes back,
// and the wire shows our offer, caller ID and BYE.
func TestDialEchoAudio(t *testing.T) {
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uas_echo.xml", Echo: true})
	env := startUA(t, Config{Trunks: []Trunk{sippTrunk(s)}})
	var mu sync.Mutex
	var progress []int
	call, ctx := sippDial(t, s, env, DialRequest{
		To: "+442079460018", DisplayName: "Webtrunk Test",
		OnProgress: func(p Progress) {
			mu.Lock()
			progress = append(progress, p.StatusCode)
			mu.Unlock()
		},
	})
	if got := call.Media().Codec; got != telephony.PCMU {
		t.Errorf("negotiated codec %v, want PCMU", got)
	}
	if got := call.Media().TelephoneEventPT; got != 101 {
		t.Errorf("telephone-event PT %d, want 101", got)
	}
	mu.Lock()
	if len(progress) != 1 || progress[0] != 180 {
		t.Errorf("progress %v, want [180]", progress)
	}
	mu.Unlock()

	echoTone(t, call.RTP(), 1000)

	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	<-call.Done()
	var he *HangupError
	if !errors.As(call.Err(), &he) || he.By != Local {
		t.Errorf("call.Err() = %v, want HangupError by local", call.Err())
	}
	s.Wait(10 * time.Second)

	inv := s.MustReceive("INVITE ")
	if line := inv.FirstLine(); !strings.HasPrefix(line, "INVITE sip:+442079460018@127.0.0.1:") {
		t.Errorf("Request-URI %q, want the number in E.164", line)
	}
	from := inv.Header("From")
	if !strings.Contains(from, "sip:+15551230000@") || !strings.Contains(from, `"Webtrunk Test"`) {
		t.Errorf("From %q, want caller ID +15551230000 and display name", from)
	}
	via := inv.Header("Via")
	if !strings.Contains(via, "rport") || !strings.Contains(via, env.addr.String()) {
		t.Errorf("Via %q, want our public address %s and rport", via, env.addr)
	}
	if ct := inv.Header("Contact"); !strings.Contains(ct, env.addr.String()) {
		t.Errorf("Contact %q, want our address %s", ct, env.addr)
	}
	for _, want := range []string{"m=audio ", "RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=ptime:20", "c=IN IP4 127.0.0.1"} {
		if !strings.Contains(inv.Text, want) {
			t.Errorf("INVITE SDP lacks %q:\n%s", want, inv.Text)
		}
	}
	s.MustReceive("ACK ")
	s.MustReceive("BYE ")
}

// TestDialDigestAuth answers 401 and 407 challenges with digest credentials; sipp verifies them.
func TestDialDigestAuth(t *testing.T) {
	for _, tc := range []struct {
		scenario, header string
	}{
		{"uas_auth401.xml", "Authorization"},
		{"uas_auth407.xml", "Proxy-Authorization"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			s := sipp.Start(t, sipp.Options{Scenario: "testdata/" + tc.scenario, Echo: true})
			env := startUA(t, Config{Trunks: []Trunk{sippTrunk(s)}})
			call, ctx := sippDial(t, s, env, DialRequest{})
			if got := call.Media().Codec; got != telephony.PCMA {
				t.Errorf("codec %v, want PCMA (the only one answered)", got)
			}
			if err := call.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			s.Wait(10 * time.Second)
			invites := s.Received("INVITE ", false)
			if len(invites) != 2 {
				t.Fatalf("sipp received %d INVITEs, want 2 (plain, then with credentials)", len(invites))
			}
			if h := invites[0].Header(tc.header); h != "" {
				t.Errorf("first INVITE already carries %s: %q", tc.header, h)
			}
			auth := invites[1].Header(tc.header)
			for _, want := range []string{`username="alice"`, `realm="trunk.test"`, `nonce="n0nce`, "response="} {
				if !strings.Contains(auth, want) {
					t.Errorf("%s %q lacks %s", tc.header, auth, want)
				}
			}
			// RFC 2617 section 3.2.2.1 without qop: MD5(MD5(user:realm:pass):nonce:MD5(method:uri)).
			p := digestParams(auth)
			want := md5hex(md5hex("alice:trunk.test:secret") + ":" + p["nonce"] + ":" + md5hex("INVITE:"+p["uri"]))
			if p["response"] != want {
				t.Errorf("digest response %q, want %q", p["response"], want)
			}
			if strings.Contains(s.Trace(), "secret") {
				t.Error("the password appears on the wire")
			}
		})
	}
}

// TestDialWrongRealmFails refuses to give credentials to a realm other than the configured one.
func TestDialWrongRealmFails(t *testing.T) {
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uas_auth401.xml"})
	tr := sippTrunk(s)
	tr.Realm = "other.test"
	env := startUA(t, Config{Trunks: []Trunk{tr}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"})
	var se *StatusError
	if !errors.Is(err, ErrAuthFailed) || !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("Dial error %v, want ErrAuthFailed with StatusError 401", err)
	}
	if n := len(s.Received("INVITE ", false)); n != 1 {
		t.Errorf("sipp received %d INVITEs, want 1 (no credentials for a foreign realm)", n)
	}
}

// TestDialBusy turns 486 into a StatusError carrying the code and the Reason header text.
func TestDialBusy(t *testing.T) {
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uas_busy486.xml"})
	env := startUA(t, Config{Trunks: []Trunk{sippTrunk(s)}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := env.ua.Dial(ctx, DialRequest{Trunk: "carrier", To: "+15557654321"})
	if call != nil {
		t.Errorf("Dial returned a call for a 486")
	}
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("Dial error %v (%T), want *StatusError", err, err)
	}
	if se.Code != 486 || se.Reason != "User busy" || se.Cause != 17 {
		t.Errorf("StatusError %+v, want 486 \"User busy\" cause 17", se)
	}
	s.Wait(10 * time.Second) // sipp waits for our ACK of the 486
	if n := env.pool.InUse(); n != 0 {
		t.Errorf("RTP ports in use after a failed dial: %d", n)
	}
}

// TestDialEarlyMedia hears the far end during 183 Session Progress, before the answer.
func TestDialEarlyMedia(t *testing.T) {
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uas_early183.xml", Echo: true})
	env := startUA(t, Config{Trunks: []Trunk{sippTrunk(s)}})
	early := make(chan []int16, 1)
	call, ctx := sippDial(t, s, env, DialRequest{
		OnProgress: func(p Progress) {
			if p.StatusCode != 183 || !p.EarlyMedia || p.Call == nil {
				return
			}
			// Early media flows before Dial returns: send a tone and listen to the echo.
			go func() {
				sendCtx, stop := context.WithCancel(t.Context())
				defer stop()
				go func() { _ = sendTone(sendCtx, p.Call.RTP(), toneFrames(700, 75)) }()
				early <- receiveAudio(p.Call.RTP(), 6400)
			}()
		},
	})
	select {
	case samples := <-early:
		assertTone(t, samples, 700)
	case <-ctx.Done():
		t.Fatal("no early media heard")
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	s.Wait(10 * time.Second)
}

// TestDialRemoteHangup ends the call when the trunk sends BYE, with the Reason header's cause.
func TestDialRemoteHangup(t *testing.T) {
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uas_bye.xml"})
	env := startUA(t, Config{Trunks: []Trunk{sippTrunk(s)}})
	call, ctx := sippDial(t, s, env, DialRequest{})
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatalf("call not ended by the trunk's BYE\n%s", s.Report())
	}
	var he *HangupError
	if !errors.As(call.Err(), &he) || he.By != Remote || he.Protocol != "Q.850" || he.Cause != 16 {
		t.Errorf("call.Err() = %v, want HangupError by remote with Q.850 cause 16", call.Err())
	}
	s.Wait(10 * time.Second)
	if ok := s.MustReceive("SIP/2.0 200"); ok.Header("CSeq") != "1 BYE" {
		t.Errorf("200 for BYE has CSeq %q", ok.Header("CSeq"))
	}
	if n := env.pool.InUse(); n != 0 {
		t.Errorf("RTP ports in use after the call: %d", n)
	}
}

var digestParam = regexp.MustCompile(`(\w+)="?([^",]*)"?`)

// digestParams reads the parameters of a Digest credentials header.
func digestParams(h string) map[string]string {
	out := map[string]string{}
	for _, m := range digestParam.FindAllStringSubmatch(strings.TrimPrefix(h, "Digest "), -1) {
		out[m[1]] = m[2]
	}
	return out
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
