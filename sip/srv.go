package sip

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/webtrunk/webtrunk/telephony"
)

// ShuffleWeighted orders s in place by weighted random selection without replacement, as RFC
// 2782 orders SRV records of one priority: the first place goes to each element with a
// probability proportional to its weight, the next among the rest, and so on. Elements of
// weight 0 come after the weighted ones, in their order (RFC 2782 gives them a very small
// chance; last is the practical reading).
func ShuffleWeighted[T any](s []T, weight func(T) int) {
	for i := range s {
		total := 0
		for _, e := range s[i:] {
			total += max(weight(e), 0)
		}
		if total == 0 {
			return
		}
		pick := rand.IntN(total) //nolint:gosec // load sharing, not security
		for j := i; j < len(s); j++ {
			if pick -= max(weight(s[j]), 0); pick < 0 {
				// Keep the order of the others: move s[j] to place i.
				e := s[j]
				copy(s[i+1:j+1], s[i:j])
				s[i] = e
				break
			}
		}
	}
}

// srvService is the SRV service and protocol of a transport (RFC 3263 section 4.1): _sip._udp,
// _sip._tcp, or _sips._tcp for TLS.
func srvService(tp telephony.Transport) (service, proto string) {
	switch tp {
	case telephony.TransportTCP:
		return "sip", "tcp"
	case telephony.TransportTLS:
		return "sips", "tcp"
	default:
		return "sip", "udp"
	}
}

// Targets returns the addresses of trunk name in the order calls should try them (RFC 3263
// section 4.2): its Host when that is an IP address; else, with Trunk.SRV, the SRV records of
// the host for the trunk's transport by ascending priority, weighted at random within one
// priority (RFC 2782), each target's IPv4 and IPv6 addresses in the resolver's order; else (or
// when the host has no SRV record) every address of the host's A and AAAA records with the
// trunk's port. Lookups go through Config.Resolver. Errors: ErrUnknownTrunk, or the lookup's
// error when the host resolves to nothing.
func (ua *UA) Targets(ctx context.Context, name string) ([]netip.AddrPort, error) {
	t := ua.trunkByName(name)
	if t == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTrunk, name)
	}
	if ip, err := netip.ParseAddr(t.Host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(t.Port))}, nil //nolint:gosec // a port
	}
	r := ua.resolver()
	if t.SRV {
		service, proto := srvService(t.Transport)
		if _, srvs, err := r.LookupSRV(ctx, service, proto, t.Host); err == nil && len(srvs) > 0 {
			return ua.srvTargets(ctx, r, srvs), nil
		}
	}
	ips, err := r.LookupNetIP(ctx, "ip", t.Host)
	if err != nil {
		return nil, fmt.Errorf("sip: resolve trunk %s host %s: %w", t.Name, t.Host, err)
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(t.Port))) //nolint:gosec // a port
	}
	return out, nil
}

// srvTargets orders SRV records (RFC 2782) and resolves each target; targets that do not
// resolve are left out, and "." (no service, RFC 2782) ends nothing but gives no address.
func (ua *UA) srvTargets(ctx context.Context, r *net.Resolver, srvs []*net.SRV) []netip.AddrPort {
	srvs = slices.Clone(srvs)
	slices.SortStableFunc(srvs, func(a, b *net.SRV) int { return int(a.Priority) - int(b.Priority) })
	for i := 0; i < len(srvs); {
		j := i
		for j < len(srvs) && srvs[j].Priority == srvs[i].Priority {
			j++
		}
		ShuffleWeighted(srvs[i:j], func(s *net.SRV) int { return int(s.Weight) })
		i = j
	}
	var out []netip.AddrPort
	for _, s := range srvs {
		host := strings.TrimSuffix(s.Target, ".")
		if host == "" {
			continue
		}
		ips, err := r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			ua.log.Debug("sip SRV target does not resolve", "target", host, "error", err)
			continue
		}
		for _, ip := range ips {
			out = append(out, netip.AddrPortFrom(ip.Unmap(), s.Port))
		}
	}
	return out
}

// resolver is Config.Resolver or the default resolver.
func (ua *UA) resolver() *net.Resolver {
	if ua.cfg.Resolver != nil {
		return ua.cfg.Resolver
	}
	return net.DefaultResolver
}

// SetResolver replaces Config.Resolver; it must be called before Serve. It lets a program that
// builds the user agent from a configuration file point trunk lookups at another DNS server.
func (ua *UA) SetResolver(r *net.Resolver) { ua.cfg.Resolver = r }
