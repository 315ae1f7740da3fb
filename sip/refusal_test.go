package sip

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// recordLog is a slog handler that keeps the message and attributes of every WARN record.
type recordLog struct {
	mu    sync.Mutex
	warns []string
}

func (h *recordLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.warns = append(h.warns, b.String())
	h.mu.Unlock()
	return nil
}
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordLog) WithGroup(string) slog.Handler      { return h }

// count returns how many WARN records contain s.
func (h *recordLog) count(s string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, w := range h.warns {
		if strings.Contains(w, s) {
			n++
		}
	}
	return n
}

// TestUnknownSourceFloodLogsOnce: a flood of requests from two unknown addresses is answered
// 403 and counted, but logs one line per source and one summary, not one line per datagram.
func TestUnknownSourceFloodLogsOnce(t *testing.T) {
	logs := &recordLog{}
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}, RejectUnknownSources: true, Logger: slog.New(logs),
		RefusedLogInterval: time.Hour})
	const perSource = 40
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		s := newStranger(t, "udp", from, env.addr)
		for i := range perSource {
			text := optionsText("UDP", s.addr, env.addr.String(), fmt.Sprintf("z9hG4bK-flood-%d-%s", i, newID()))
			if _, err := s.conn.Write([]byte(text)); err != nil {
				t.Fatal(err)
			}
		}
		// Each is answered: wait for the last answer, which follows the others.
		for i := range perSource {
			if res := s.final(5 * time.Second); res == nil || res.StatusCode != 403 {
				t.Fatalf("request %d from %s: %v, want 403", i, from, res)
			}
		}
	}
	if got := env.ua.Stats().UnknownSource; got != 2*perSource {
		t.Errorf("Stats().UnknownSource = %d, want %d", got, 2*perSource)
	}
	if n := logs.count("sip request from unknown source"); n != 2 {
		t.Errorf("%d log lines for refused requests, want 2 (one per source)", n)
	}
	env.shutdown() // ends the interval: the summary is written
	if n := logs.count(fmt.Sprintf("%d datagrams from 2 unknown sources refused", 2*perSource)); n != 1 {
		t.Errorf("summary lines %d, want 1; warnings:\n%s", n, strings.Join(logs.warns, "\n"))
	}
}

// TestOversizeDatagram: a request over 32 KiB from a trunk is answered 513 Message Too Large;
// a datagram too large whose start cannot be read as a request is dropped. Both are counted.
func TestOversizeDatagram(t *testing.T) {
	peer := newRawPeer(t)
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}})
	body := strings.Repeat("x", 40*1024)
	text := strings.Replace(optionsText("UDP", peer.addr, env.addr.String(), "z9hG4bK-big-"+newID()),
		"Content-Length: 0\r\n\r\n", fmt.Sprintf("Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body), 1)
	if _, err := peer.conn.WriteToUDPAddrPort([]byte(text), env.addr); err != nil {
		t.Fatal(err)
	}
	m := peer.recv(5 * time.Second)
	res, ok := m.(*sipmsg.Response)
	if !ok || res.StatusCode != 513 {
		t.Fatalf("got %v, want 513", m)
	}
	if cseq := res.CSeq(); cseq == nil || cseq.MethodName != sipmsg.OPTIONS {
		t.Errorf("513 does not answer the OPTIONS:\n%s", res)
	}
	if _, err := peer.conn.WriteToUDPAddrPort([]byte(strings.Repeat("y", 40*1024)), env.addr); err != nil {
		t.Fatal(err)
	}
	if m := peer.recv(500 * time.Millisecond); m != nil {
		t.Errorf("answer %v to an unreadable datagram", m)
	}
	if got := env.ua.Stats().Oversize; got != 2 {
		t.Errorf("Stats().Oversize = %d, want 2", got)
	}
}
