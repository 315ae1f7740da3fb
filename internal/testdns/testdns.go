// Package testdns is a small DNS server for tests: SRV and A records of a
// fixed zone on a UDP socket of 127.0.0.1, and a resolver that asks it and
// nothing else, so that tests never reach the machine's resolver. It is
// imported only by tests.
package testdns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Zone is what the server answers: SRV records and A records by name
// (without the trailing dot); other names get NXDOMAIN.
type Zone struct {
	SRV map[string][]net.SRV
	A   map[string][]netip.Addr
}

// Start serves zone on a UDP socket of 127.0.0.1 until the test ends and
// returns a resolver that asks it and nothing else.
func Start(tb testing.TB, zone Zone) *net.Resolver {
	tb.Helper()
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	tb.Cleanup(func() { _ = pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply := zone.answer(buf[:n]); reply != nil {
				_, _ = pc.WriteTo(reply, from)
			}
		}
	}()
	addr := pc.LocalAddr().String()

	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp4", addr)
	}}
}

// answer builds the response to one query, nil when it cannot be read.
func (z Zone) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.TrimSuffix(q.Name.String(), ".")
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	found := false
	switch q.Type {
	case dnsmessage.TypeSRV:
		for _, s := range z.SRV[name] {
			found = true
			hdr.Type = dnsmessage.TypeSRV
			_ = b.SRVResource(hdr, dnsmessage.SRVResource{Priority: s.Priority, Weight: s.Weight, Port: s.Port,
				Target: dnsmessage.MustNewName(s.Target + ".")})
		}
	case dnsmessage.TypeA:
		for _, a := range z.A[name] {
			found = true
			hdr.Type = dnsmessage.TypeA
			_ = b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
		}
	}
	if !found && len(z.SRV[name]) == 0 && len(z.A[name]) == 0 {
		// An unknown name: NXDOMAIN.
		nx := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError})
		_ = nx.StartQuestions()
		_ = nx.Question(q)
		out, _ := nx.Finish()
		return out
	}
	out, _ := b.Finish()
	return out
}
