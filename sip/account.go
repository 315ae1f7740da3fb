package sip

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// Account is an extension on a registrar or PBX that the user agent
// registers a contact for (RFC 3261 section 10), so that calls to the
// extension reach it.
type Account struct {
	// Name names the account in logs and RegistrationState.Trunk (the
	// gateway's user).
	Name string
	// Host and Port are the registrar's; Port 0 = the transport's default.
	Host string
	Port int
	// Transport is how REGISTERs are sent; "" = udp. A listener of the
	// same transport is required.
	Transport telephony.Transport
	// Username is the extension: the user part of the address of record,
	// of our contact and the digest user name. Password answers the
	// registrar's challenges (401/407, RFC 3261 section 22); never logged.
	Username, Password string
	// Expiry is the requested registration lifetime; 0 = 3600 s.
	Expiry time.Duration
	// Instance, when set, is the RFC 5626 section 4.1 instance URN
	// ("urn:uuid:...") written as +sip.instance in our contact, so that
	// the registrar keeps one binding per gateway instance.
	Instance string
	// OnState, when set, is called with the registration's state after
	// each REGISTER exchange and after the removal, from the
	// registration's goroutine; it must not block.
	OnState func(RegistrationState)
}

// ErrAccount is returned by StartAccount for an account it cannot
// register: no registrar host or username, or no listener of its
// transport.
var ErrAccount = errors.New("sip: unusable account")

// AccountRegistration keeps one Account registered until Stop.
type AccountRegistration struct {
	reg  *registration
	once sync.Once
	done chan struct{}
}

// StartAccount starts registering a: at once, refreshed at half the
// granted lifetime, retried with exponential back-off
// (Config.RegisterRetryMin..Max, or Retry-After) while the registrar
// fails or is unreachable. The registration is removed (Expires: 0, RFC
// 3261 section 10.2.2) by Stop or when the user agent shuts down. It
// returns ErrAccount (wrapped) for an unusable account and ErrShuttingDown
// once the user agent has begun its shutdown.
func (ua *UA) StartAccount(a Account) (*AccountRegistration, error) {
	if a.Transport == "" {
		a.Transport = telephony.TransportUDP
	}
	if a.Host == "" || a.Username == "" || !a.Transport.Valid() {
		return nil, fmt.Errorf("%w: %q needs a registrar host, a username and a transport", ErrAccount, a.Name)
	}
	if ua.listener(a.Transport) == nil {
		return nil, fmt.Errorf("%w: %q: no %s listener", ErrAccount, a.Name, a.Transport)
	}
	if a.Port == 0 {
		a.Port = a.Transport.DefaultPort()
	}
	if a.Expiry == 0 {
		a.Expiry = time.Hour
	}
	t := &trunk{Trunk: Trunk{
		Name: a.Name, Host: a.Host, Port: a.Port, Transport: a.Transport,
		Username: a.Username, Password: a.Password, Register: true, RegisterExpiry: a.Expiry,
	}}
	reg := newRegistration(ua, t)
	reg.instance = a.Instance
	reg.kind = "account"
	reg.onState = a.OnState
	r := &AccountRegistration{reg: reg, done: make(chan struct{})}
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.quit {
		return nil, ErrShuttingDown
	}
	ua.regs.Go(func() {
		defer close(r.done)
		reg.run(ua.stop)
	})

	return r, nil
}

// State returns the registration's state.
func (r *AccountRegistration) State() RegistrationState { return r.reg.state() }

// Stop removes the registration (one REGISTER with Expires: 0 when a
// binding is current, bounded by Config.RegisterTimeout) and returns when
// it is done. It is idempotent.
func (r *AccountRegistration) Stop() {
	r.once.Do(func() { close(r.reg.quit) })
	<-r.done
}

// instanceParams adds RFC 5626 section 4.1 +sip.instance to ct when inst
// is set.
func instanceParams(ct *sipmsg.ContactHeader, inst string) {
	if inst == "" {
		return
	}
	if ct.Params == nil {
		ct.Params = sipmsg.NewParams()
	}
	ct.Params.Add("+sip.instance", strconv.Quote("<"+inst+">"))
}
