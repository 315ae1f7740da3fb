package sip

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// Stats are the user agent's counters of refused SIP traffic, totals since NewUA. The gateway
// exports them as metrics.
type Stats struct {
	// UnknownSource counts out-of-dialog requests from addresses no trunk allows (answered 403
	// or dropped, Config.RejectUnknownSources).
	UnknownSource uint64
	// ForeignInDialog counts requests inside a dialog, and CANCELs of a ringing call, that did
	// not come from the call's trunk over the dialog's transport: answered 403 (ACKs dropped),
	// the call untouched.
	ForeignInDialog uint64
	// Oversize counts datagrams longer than MaxDatagramSize: answered 513 when the request line
	// and Via could be read, dropped otherwise.
	Oversize uint64
	// InviteRateLimited counts new INVITEs answered 503 by the per-source rate limit
	// (Config.InviteRate).
	InviteRateLimited uint64
}

// uaCounters are the atomics behind Stats.
type uaCounters struct {
	unknownSource, foreignInDialog, oversize, inviteRateLimited atomic.Uint64
}

// Stats returns the counters of refused traffic. Each is read atomically; together they are
// not one snapshot.
func (ua *UA) Stats() Stats {
	c := &ua.counters
	return Stats{
		UnknownSource:     c.unknownSource.Load(),
		ForeignInDialog:   c.foreignInDialog.Load(),
		Oversize:          c.oversize.Load(),
		InviteRateLimited: c.inviteRateLimited.Load(),
	}
}

// maxLoggedSources bounds the sources refusalLog remembers per interval; past it, refusals are
// only counted until the next summary.
const maxLoggedSources = 1024

// refusalLog keeps refused traffic from flooding the log: at most one line per source address
// and interval, and a summary per interval ("N datagrams from M unknown sources refused").
type refusalLog struct {
	log *slog.Logger

	mu       sync.Mutex
	sources  map[netip.Addr]struct{} // sources logged in this interval
	overflow bool                    // more sources than maxLoggedSources in this interval
	count    uint64                  // refusals in this interval
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, sources: map[netip.Addr]struct{}{}}
}

// refused counts one refusal from src and logs msg with args at WARN level unless src was
// logged in this interval.
func (r *refusalLog) refused(src netip.Addr, msg string, args ...any) {
	r.mu.Lock()
	r.count++
	_, seen := r.sources[src]
	first := !seen && len(r.sources) < maxLoggedSources
	if first {
		r.sources[src] = struct{}{}
	} else if !seen {
		r.overflow = true
	}
	r.mu.Unlock()
	if first {
		r.log.Warn(msg, append(args, "note", "further refusals from this source are summarised")...)
	}
}

// summarize logs how many refusals the interval saw from how many sources, when any, and
// starts the next interval.
func (r *refusalLog) summarize() {
	r.mu.Lock()
	n, m, overflow := r.count, len(r.sources), r.overflow
	r.count, r.overflow = 0, false
	clear(r.sources)
	r.mu.Unlock()
	if n == 0 {
		return
	}
	more := ""
	if overflow {
		more = " at least"
	}
	r.log.Warn("sip: refused datagrams from unknown sources", "datagrams", n, "sources", m,
		"summary", itoa(int(n))+" datagrams from"+more+" "+itoa(m)+" unknown sources refused")
}

// run summarises every interval until stop is closed, then once more.
func (r *refusalLog) run(interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			r.summarize()
		case <-stop:
			r.summarize()
			return
		}
	}
}

// MaxDatagramSize is the largest SIP message this user agent reads from one UDP datagram, in
// bytes (sipgo's read buffer). A longer request is answered 513 Message Too Large (RFC 3261
// section 21.5.10) when its request line and Via can be read from the first MaxDatagramSize
// bytes, and dropped otherwise; both are counted in Stats.Oversize.
const MaxDatagramSize = 32 * 1024

// screen is the read filter of every transport: it sees each UDP datagram, and each chunk a
// TCP or TLS connection reads, before sipgo parses it, and returns what sipgo may parse (nil:
// nothing). It refuses CANCELs of a ringing call that do not come from its trunk (see
// screenCancel); oversized datagrams are handled by gatedPacketConn before.
func (ua *UA) screen(props sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte("CANCEL ")) {
		return data, nil
	}
	tp := transportOfNetwork(props.Transport)
	src := netAddrPort(props.RemoteAddr)
	if ua.admitCancel(data, tp, src, func(res []byte) {
		if tp == telephony.TransportUDP {
			ua.writeUDP(props.LocalAddr, res, src)
		}
	}) {
		return data, nil
	}
	return nil, nil
}

// admitCancel decides on a CANCEL read as one message: true lets it through (it parses as
// nothing we track, or it comes from the ringing call's trunk over the INVITE's transport); on
// false it has been refused with a 403 passed to reply (RFC 3261 section 9.2 lets a UAS refuse a
// CANCEL it does not trust) and counted, and the ringing call was not touched.
func (ua *UA) admitCancel(data []byte, tp telephony.Transport, src netip.AddrPort, reply func([]byte)) bool {
	msg, err := sipmsg.ParseMessage(data)
	if err != nil {
		return true // sipgo drops it too
	}
	req, ok := msg.(*sipmsg.Request)
	if !ok || req.CallID() == nil || req.From() == nil {
		return true
	}
	fromTag, _ := req.From().Params.Get("tag")
	ua.mu.Lock()
	ic := ua.ringing[ringingKey(req.CallID().Value(), fromTag)]
	ua.mu.Unlock()
	if ic == nil {
		return true
	}
	req.SetSource(src.String())
	req.SetTransport(sipgoNetwork(tp))
	if ic.call.admits(req) {
		if answeredElsewhere(req) {
			ic.elsewhere.Store(true)
		}
		return true
	}
	ua.counters.foreignInDialog.Add(1)
	ua.refusals.refused(src.Addr(), "sip CANCEL not from the ringing call's trunk", "source", src.String(),
		"transport", string(tp), "call", ic.call.id)
	res := sipmsg.NewResponseFromRequest(req, 403, "Forbidden", nil)
	res.AppendHeader(sipmsg.NewHeader("Server", ua.cfg.UserAgent))
	reply([]byte(res.String()))
	return false
}

// ringingKey identifies a ringing inbound call by Call-ID and the caller's From tag, which its
// CANCEL repeats (RFC 3261 section 9.1).
func ringingKey(callID, fromTag string) string { return callID + "\x00" + fromTag }

// writeUDP sends b to dst from the UDP listener bound at local; errors are only logged at
// debug level (the reply is a courtesy to a refused sender).
func (ua *UA) writeUDP(local net.Addr, b []byte, dst netip.AddrPort) {
	ua.mu.Lock()
	l := ua.listeners[telephony.TransportUDP]
	ua.mu.Unlock()
	if l == nil || !dst.IsValid() {
		return
	}
	g, ok := l.closer.(*gatedPacketConn)
	if !ok || (local != nil && g.local != local.String()) {
		return
	}
	if _, err := g.udp.WriteToUDPAddrPort(b, dst); err != nil {
		ua.log.Debug("sip reply to refused datagram failed", "error", err)
	}
}

// transportOfNetwork maps sipgo's network name to a Transport.
func transportOfNetwork(network string) telephony.Transport {
	switch sipmsg.NetworkToLower(network) {
	case "tcp":
		return telephony.TransportTCP
	case "tls":
		return telephony.TransportTLS
	default:
		return telephony.TransportUDP
	}
}

// netAddrPort returns the address and port of a UDP or TCP address.
func netAddrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch v := a.(type) {
	case *net.UDPAddr:
		ap = v.AddrPort()
	case *net.TCPAddr:
		ap = v.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// tooLarge answers a datagram that did not fit MaxDatagramSize: head is its first bytes. A
// request whose request line and Via (and the other headers a response copies) are within head
// gets 513 Message Too Large through reply; anything else is dropped. Both are counted.
func (ua *UA) tooLarge(head []byte, src netip.AddrPort, reply func([]byte)) {
	ua.counters.oversize.Add(1)
	ua.refusals.refused(src.Addr(), "sip datagram too large", "source", src.String(), "limit_bytes", MaxDatagramSize)
	if isResponse(head) {
		return
	}
	// Keep the complete header lines, drop the body and any Content-Length: what is left is
	// a request without a body that sipgo's parser reads.
	if end := bytes.Index(head, []byte("\r\n\r\n")); end >= 0 {
		head = head[:end+2]
	} else if end := bytes.LastIndex(head, []byte("\r\n")); end >= 0 {
		head = head[:end+2]
	} else {
		return
	}
	var hdr bytes.Buffer
	for _, line := range bytes.SplitAfter(head, []byte("\r\n")) {
		name, _, _ := bytes.Cut(line, []byte(":"))
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte("Content-Length")) || bytes.EqualFold(name, []byte("l")) {
			continue
		}
		hdr.Write(line)
	}
	hdr.WriteString("Content-Length: 0\r\n\r\n")
	msg, err := sipmsg.ParseMessage(hdr.Bytes())
	if err != nil {
		return
	}
	req, ok := msg.(*sipmsg.Request)
	if !ok || req.Via() == nil || req.CSeq() == nil || req.Method == sipmsg.ACK {
		return
	}
	res := sipmsg.NewResponseFromRequest(req, 513, "Message Too Large", nil)
	res.AppendHeader(sipmsg.NewHeader("Server", ua.cfg.UserAgent))
	reply([]byte(res.String()))
}
