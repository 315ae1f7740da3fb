package sip

import (
	"net/netip"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// contact returns our Contact header for transport tp with the given user part.
func (ua *UA) contact(user string, b *boundListener) sipmsg.ContactHeader {
	uri := sipmsg.Uri{Scheme: "sip", User: user, Host: ua.cfg.PublicHost, Port: b.publicPort}
	if b.transport != telephony.TransportUDP {
		uri.UriParams = sipmsg.NewParams()
		uri.UriParams.Add("transport", string(b.transport))
	}
	return sipmsg.ContactHeader{Address: uri}
}

// listener returns the bound listener of transport tp, nil when there is none.
func (ua *UA) listener(tp telephony.Transport) *boundListener {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	return ua.listeners[tp]
}

// contactOn returns our Contact with user part user for transport tp: the listener's public
// address, or PublicHost alone when tp has no listener.
func (ua *UA) contactOn(tp telephony.Transport, user string) sipmsg.ContactHeader {
	b := ua.listener(tp)
	if b == nil {
		return sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: user, Host: ua.cfg.PublicHost}}
	}
	return ua.contact(user, b)
}

// contactFor returns our Contact for the transport req arrived on, with the user part of its To
// when that holds only characters a URI user part may carry as they are.
func (ua *UA) contactFor(req *sipmsg.Request) sipmsg.ContactHeader {
	user := ""
	if to := req.To(); to != nil && safeUserPart(to.Address.User) {
		user = to.Address.User
	}
	return ua.contactOn(transportOf(req), user)
}

// addCommonHeaders writes User-Agent (requests) or Server (responses), Allow and Supported
// (RFC 3261 sections 20.5, 20.35, 20.37 and 20.41).
func (ua *UA) addCommonHeaders(m sipmsg.Message) {
	switch m.(type) {
	case *sipmsg.Response:
		m.AppendHeader(sipmsg.NewHeader("Server", ua.cfg.UserAgent))
	default:
		m.AppendHeader(sipmsg.NewHeader("User-Agent", ua.cfg.UserAgent))
	}
	m.AppendHeader(sipmsg.NewHeader("Allow", allowMethods))
	m.AppendHeader(sipmsg.NewHeader("Supported", "timer"))
}

// dialogUA returns the sipgo dialog helper for the transport a request arrived on.
func (ua *UA) dialogUA(tp telephony.Transport, user string) (*sipgo.DialogUA, error) {
	c, b, err := ua.client(tp)
	if err != nil {
		return nil, err
	}
	return &sipgo.DialogUA{Client: c, ContactHDR: ua.contact(user, b)}, nil
}

// mediaAddr is the address written in SDP for an RTP socket bound at local.
func (ua *UA) mediaAddr(local netip.AddrPort) netip.AddrPort {
	if ua.cfg.MediaIP.IsValid() {
		return netip.AddrPortFrom(ua.cfg.MediaIP, local.Port())
	}
	if ip, err := netip.ParseAddr(ua.cfg.PublicHost); err == nil {
		return netip.AddrPortFrom(ip, local.Port())
	}
	return local
}
