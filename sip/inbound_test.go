package sip

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/telephony"
)

// inboundTrunk accepts INVITEs from 127.0.0.1 (sipp) and reads numbers as E.164 without "+".
func inboundTrunk() Trunk {
	return Trunk{Name: "carrier", Host: "127.0.0.1", Numbering: telephony.NumberPlan{Format: telephony.FormatE164NoPlus}}
}

// TestInboundCallAudio: a sipp trunk calls a DID, we ring and answer, hear its tone, and it hangs up.
func TestInboundCallAudio(t *testing.T) {
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}})
	s := sipp.Start(t, sipp.Options{
		Scenario: "testdata/uac_call.xml",
		Remote:   env.addr.String(),
		Service:  "15557654321",
		Files:    map[string]func(string){"tone.ul": func(p string) { toneFile(t, p, 440, 3) }},
	})
	ic := awaitIncoming(t, env, s.Report)
	if ic.From() != "+15551230000" || ic.To() != "+15557654321" || ic.Trunk() != "carrier" {
		t.Errorf("incoming from %q to %q trunk %q, want +15551230000 -> +15557654321 on carrier", ic.From(), ic.To(), ic.Trunk())
	}
	if ic.Codec() != telephony.PCMU {
		t.Errorf("codec %v, want PCMU (first of our order among PCMA, PCMU offered)", ic.Codec())
	}
	if err := ic.Ring(); err != nil {
		t.Fatalf("Ring: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := ic.Answer(ctx)
	if err != nil {
		t.Fatalf("Answer: %v\n%s", err, s.Report())
	}
	samples := receiveAudio(call.RTP(), 8000)
	assertTone(t, samples, 440)
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatalf("call not ended by the trunk's BYE\n%s", s.Report())
	}
	var he *HangupError
	if !errors.As(call.Err(), &he) || he.By != Remote {
		t.Errorf("call.Err() = %v, want HangupError by remote", call.Err())
	}
	s.Wait(10 * time.Second)
	if _, err := ic.Answer(ctx); !errors.Is(err, ErrCallFinalized) {
		t.Errorf("second Answer: %v, want ErrCallFinalized", err)
	}

	for _, m := range s.Received("SIP/2.0 ", false) {
		if strings.HasPrefix(m.FirstLine(), "SIP/2.0 100") && m.Header("CSeq") == "1 INVITE" {
			goto trying
		}
	}
	t.Errorf("no 100 Trying sent\n%s", s.Report())
trying:
	s.MustReceive("SIP/2.0 180")
	ok := s.MustReceive("SIP/2.0 200")
	for _, want := range []string{"m=audio ", "RTP/AVP 0 101", "c=IN IP4 127.0.0.1", "a=sendrecv"} {
		if !strings.Contains(ok.Text, want) {
			t.Errorf("200 SDP lacks %q:\n%s", want, ok.Text)
		}
	}
	if se := ok.Header("Session-Expires"); !strings.HasPrefix(se, "1800;refresher=uac") {
		t.Errorf("Session-Expires %q, want 1800;refresher=uac (the trunk supports timer)", se)
	}
	if ct := ok.Header("Contact"); !strings.Contains(ct, env.addr.String()) {
		t.Errorf("Contact %q, want our address %s", ct, env.addr)
	}
}

// TestInboundCancel: the trunk cancels while we ring; it gets 200 for the CANCEL and 487.
func TestInboundCancel(t *testing.T) {
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}})
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uac_cancel.xml", Remote: env.addr.String(), Service: "15557654321"})
	ic := awaitIncoming(t, env, s.Report)
	if err := ic.Ring(); err != nil {
		t.Fatalf("Ring: %v", err)
	}
	awaitCause(t, ic, ErrCanceled, "the trunk's CANCEL", s.Report)
	s.Wait(10 * time.Second)
	if _, err := ic.Answer(context.Background()); err == nil {
		t.Error("Answer after CANCEL succeeded")
	}
	var got487, got200Cancel bool
	for _, m := range s.Received("SIP/2.0 ", false) {
		switch {
		case strings.HasPrefix(m.FirstLine(), "SIP/2.0 487") && m.Header("CSeq") == "1 INVITE":
			got487 = true
		case strings.HasPrefix(m.FirstLine(), "SIP/2.0 200") && m.Header("CSeq") == "1 CANCEL":
			got200Cancel = true
		}
	}
	if !got487 || !got200Cancel {
		t.Errorf("487 for INVITE sent: %v, 200 for CANCEL sent: %v; want both\n%s", got487, got200Cancel, s.Report())
	}
}

// TestInboundHoldReinvite: the trunk holds (a=sendonly) and resumes with re-INVITEs; we answer
// recvonly then sendrecv and report hold and resume.
func TestInboundHoldReinvite(t *testing.T) {
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}})
	s := sipp.Start(t, sipp.Options{Scenario: "testdata/uac_hold.xml", Remote: env.addr.String(), Service: "15557654321"})
	ic := awaitIncoming(t, env, s.Report)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := ic.Answer(ctx)
	if err != nil {
		t.Fatalf("Answer: %v\n%s", err, s.Report())
	}
	var kinds []DialogEventKind
	for len(kinds) < 2 {
		select {
		case ev := <-call.Events():
			kinds = append(kinds, ev.Kind)
			if ev.Kind == EventHold && !ev.Media.Held {
				t.Errorf("hold event with Media.Held false")
			}
		case <-call.Done():
			t.Fatalf("call ended before hold and resume: %v\n%s", call.Err(), s.Report())
		case <-ctx.Done():
			t.Fatalf("events %v, want hold then resume\n%s", kinds, s.Report())
		}
	}
	if kinds[0] != EventHold || kinds[1] != EventResume {
		t.Errorf("events %v, want [hold resume]", kinds)
	}
	<-call.Done()
	s.Wait(10 * time.Second)
	var answers []sipp.Message
	for _, m := range s.Received("SIP/2.0 200", false) {
		if strings.HasSuffix(m.Header("CSeq"), "INVITE") {
			answers = append(answers, m)
		}
	}
	if len(answers) < 3 {
		t.Fatalf("got %d 200s to INVITEs, want 3\n%s", len(answers), s.Report())
	}
	byCSeq := map[string]string{}
	for _, a := range answers {
		byCSeq[a.Header("CSeq")] = a.Text
	}
	if !strings.Contains(byCSeq["2 INVITE"], "a=recvonly") {
		t.Errorf("answer to the hold re-INVITE is not recvonly:\n%s", byCSeq["2 INVITE"])
	}
	if !strings.Contains(byCSeq["3 INVITE"], "a=sendrecv") {
		t.Errorf("answer to the resume re-INVITE is not sendrecv:\n%s", byCSeq["3 INVITE"])
	}
}
