package turnserver

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// quotas counts the allocations of each user and each client IP address
// against their limits (0: unbounded).
type quotas struct {
	perUser, perSource int

	mu      sync.Mutex
	users   map[string]int
	sources map[netip.Addr]int
	refused atomic.Uint64
}

func newQuotas(perUser, perSource int) *quotas {
	return &quotas{perUser: perUser, perSource: perSource, users: make(map[string]int), sources: make(map[netip.Addr]int)}
}

// sourceIP is the IP address of a client's transport address.
func sourceIP(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}

	return ap.Addr().Unmap()
}

// allow is pion's QuotaHandler: false (486 Allocation Quota Reached, RFC
// 8656 section 7.2) when user or the client's address holds its limit.
func (q *quotas) allow(user, _ string, src net.Addr) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if (q.perUser > 0 && q.users[user] >= q.perUser) || (q.perSource > 0 && q.sources[sourceIP(src)] >= q.perSource) {
		q.refused.Add(1)

		return false
	}

	return true
}

// add counts a new allocation.
func (q *quotas) add(user string, src net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.users[user]++
	q.sources[sourceIP(src)]++
}

// remove counts an allocation less.
func (q *quotas) remove(user string, src net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.users[user]--; q.users[user] <= 0 {
		delete(q.users, user)
	}
	ip := sourceIP(src)
	if q.sources[ip]--; q.sources[ip] <= 0 {
		delete(q.sources, ip)
	}
}
