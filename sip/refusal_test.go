package sip

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
)

// TestUnknownSourceFloodLogsOnce: a flood of requests from two unknown addresses is answered
// 403 and counted, but logs one line per source and one summary, not one line per datagram.
func TestUnknownSourceFloodLogsOnce(t *testing.T) {
	logger, logs := logcapture.New(t, logcapture.Level(slog.LevelWarn))
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}, RejectUnknownSources: true, Logger: logger,
		RefusedLogInterval: time.Hour})
	const perSource = 40
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		s := faketrunk.NewWireAt(t, netip.MustParseAddr(from))
		for i := range perSource {
			s.SendBytes([]byte(optionsText("UDP", s.Addr(), env.addr.String(), fmt.Sprintf("z9hG4bK-flood-%d-%s", i, newID()))), env.addr)
		}
		// Each is answered: wait for the last answer, which follows the others.
		for i := range perSource {
			if res := s.Final(5 * time.Second); res == nil || res.StatusCode != 403 {
				t.Fatalf("request %d from %s: %v, want 403", i, from, res)
			}
		}
	}
	if got := env.ua.Stats().UnknownSource; got != 2*perSource {
		t.Errorf("Stats().UnknownSource = %d, want %d", got, 2*perSource)
	}
	if n := len(logs.Lines("sip request from unknown source")); n != 2 {
		t.Errorf("%d log lines for refused requests, want 2 (one per source)", n)
	}
	env.shutdown() // ends the interval: the summary is written
	if n := len(logs.Lines(fmt.Sprintf("%d datagrams from 2 unknown sources refused", 2*perSource))); n != 1 {
		t.Errorf("summary lines %d, want 1; warnings:\n%s", n, logs)
	}
}

// TestOversizeDatagram: a request over 32 KiB from a trunk is answered 513 Message Too Large;
// a datagram too large whose start cannot be read as a request is dropped. Both are counted.
func TestOversizeDatagram(t *testing.T) {
	peer, env := inboundUA(t, nil)
	body := strings.Repeat("x", 40*1024)
	text := strings.Replace(optionsText("UDP", peer.Addr(), env.addr.String(), "z9hG4bK-big-"+newID()),
		"Content-Length: 0\r\n\r\n", fmt.Sprintf("Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body), 1)
	peer.SendBytes([]byte(text), env.addr)
	m := peer.Recv(5 * time.Second)
	res, ok := m.(*sipmsg.Response)
	if !ok || res.StatusCode != 513 {
		t.Fatalf("got %v, want 513", m)
	}
	if cseq := res.CSeq(); cseq == nil || cseq.MethodName != sipmsg.OPTIONS {
		t.Errorf("513 does not answer the OPTIONS:\n%s", res)
	}
	peer.SendBytes([]byte(strings.Repeat("y", 40*1024)), env.addr)
	if m := peer.Recv(500 * time.Millisecond); m != nil {
		t.Errorf("answer %v to an unreadable datagram", m)
	}
	if got := env.ua.Stats().Oversize; got != 2 {
		t.Errorf("Stats().Oversize = %d, want 2", got)
	}
}
