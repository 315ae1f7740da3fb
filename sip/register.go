package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// RegistrationStatus is the state of a trunk registration.
type RegistrationStatus string

// Registration states.
const (
	// RegUnregistered: not registered yet, or removed at shutdown.
	RegUnregistered RegistrationStatus = "unregistered"
	// RegRegistered: the registrar accepted the binding and it has not expired.
	RegRegistered RegistrationStatus = "registered"
	// RegFailed: the last attempt failed; another follows after a back-off.
	RegFailed RegistrationStatus = "failed"
)

// RegistrationState describes a trunk's registration (RFC 3261 section 10) for logs, metrics and readiness.
type RegistrationState struct {
	// Trunk is the trunk's name.
	Trunk string
	// Status is the current state.
	Status RegistrationStatus
	// Registered is true while a binding accepted by the registrar is current.
	Registered bool
	// LastCode is the status code of the last final response, 0 when none came (timeout, transport error).
	LastCode int
	// LastError describes the last failure, "" after a success.
	LastError string
	// Expires is when the current binding runs out; zero when not registered.
	Expires time.Time
	// Next is when the next REGISTER (refresh or retry) is due.
	Next time.Time
	// Failures counts consecutive failed attempts.
	Failures int
}

// registration keeps one trunk registered: REGISTER with digest authentication (credentials of
// the accepted challenge reused pre-emptively, RFC 3261 section 22.3), refresh at half the
// granted lifetime, exponential back-off (Config.RegisterRetryMin..Max, or Retry-After) after
// failures, and removal (Expires: 0) at shutdown.
type registration struct {
	// quit is closed when the trunk is removed (SetTrunks).
	quit    chan struct{}
	ua      *UA
	t       *trunk
	callID  string
	fromTag string
	// instance is the RFC 5626 +sip.instance of our contact, "" for none;
	// kind names what registers in logs: "trunk" or "account".
	instance string
	kind     string
	// onState, when set, is called with the state after each attempt
	// and after the removal (accounts).
	onState func(RegistrationState)

	mu   sync.Mutex
	st   RegistrationState
	cseq uint32
	auth *regAuth // challenge for pre-emptive credentials, nil when none (register_auth.go)
}

func newRegistration(ua *UA, t *trunk) *registration {
	return &registration{
		ua:      ua,
		t:       t,
		callID:  newID() + newID(),
		fromTag: newID(),
		kind:    "trunk",
		st:      RegistrationState{Trunk: t.Name, Status: RegUnregistered},
		quit:    make(chan struct{}),
	}
}

func (r *registration) state() RegistrationState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	if st.Registered && time.Now().After(st.Expires) {
		st.Registered = false
		st.Status = RegFailed
	}
	return st
}

// run registers until stop or r.quit (the trunk was removed) is closed,
// then removes the binding.
func (r *registration) run(stop <-chan struct{}) {
	cfg := r.ua.cfg
	backoff := cfg.RegisterRetryMin
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-stop:
			r.unregister()
			return
		case <-r.quit:
			r.unregister()
			return
		case <-wait.C:
		}
		granted, err := r.exchange(r.t.RegisterExpiry)
		now := time.Now()
		var next time.Duration
		r.mu.Lock()
		if err == nil {
			backoff = cfg.RegisterRetryMin
			next = max(granted/2, time.Second)
			r.st = RegistrationState{Trunk: r.t.Name, Status: RegRegistered, Registered: true,
				LastCode: 200, Expires: now.Add(granted), Next: now.Add(next)}
		} else {
			next = backoff
			var se *StatusError
			if errors.As(err, &se) {
				r.st.LastCode = se.Code
				if ra := retryAfter(se); ra > 0 {
					next = ra
				}
			} else {
				r.st.LastCode = 0
			}
			backoff = min(2*backoff, cfg.RegisterRetryMax)
			r.st.Failures++
			r.st.LastError = err.Error()
			r.st.Next = now.Add(next)
			if !r.st.Registered || now.After(r.st.Expires) {
				r.st.Status, r.st.Registered, r.st.Expires = RegFailed, false, time.Time{}
			}
		}
		st := r.st
		r.mu.Unlock()
		if err != nil {
			r.ua.log.Warn("sip registration failed", r.kind, r.t.Name, "code", st.LastCode, "error", err, "retry_in", next)
		} else {
			r.ua.log.Info("sip registered", r.kind, r.t.Name, "expires", granted)
		}
		if r.onState != nil {
			r.onState(st)
		}
		wait.Reset(next)
	}
}

// unregister removes our binding (RFC 3261 section 10.2.2) when one is current.
func (r *registration) unregister() {
	r.mu.Lock()
	registered := r.st.Registered
	r.mu.Unlock()
	if r.onState != nil {
		defer func() {
			st := r.state()
			st.Status, st.Registered, st.Expires = RegUnregistered, false, time.Time{}
			r.onState(st)
		}()
	}
	if !registered {
		return
	}
	_, err := r.exchange(0)
	r.mu.Lock()
	r.st = RegistrationState{Trunk: r.t.Name, Status: RegUnregistered}
	if err != nil {
		r.st.LastError = err.Error()
	}
	r.mu.Unlock()
	if err != nil {
		r.ua.log.Warn("sip un-register failed", r.kind, r.t.Name, "error", err)
	}
}

// exchange sends one REGISTER asking for expiry (0 removes the binding) and returns the granted
// lifetime. The REGISTER carries credentials from the challenge the registrar last accepted,
// when there is one (RFC 3261 section 22.3); a 401/407 is answered once with sipgo's digest
// (a second one only when it marks the nonce stale, RFC 7616 section 3.3), and one 423 Interval
// Too Brief is answered with Min-Expires. Errors: ErrAuthFailed wrapping the *StatusError when
// the challenge cannot be answered, credentials are challenged again or a REGISTER carrying
// them gets 403; a *StatusError for other failure responses; the transaction's error otherwise.
func (r *registration) exchange(expiry time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.ua.cfg.RegisterTimeout)
	defer cancel()
	cl, b, err := r.ua.client(r.t.Transport)
	if err != nil {
		return 0, err
	}
	briefRetried := false
	for attempt := 0; ; attempt++ {
		req := r.build(b, expiry)
		credentialed := r.authorize(req)
		res, err := cl.Do(ctx, req)
		if err != nil {
			return 0, fmt.Errorf("sip: REGISTER: %w", err)
		}
		if res.StatusCode == 401 || res.StatusCode == 407 {
			if credentialed {
				// The nonce expired or the registrar does not take it twice: answer this challenge.
				r.forgetAuth()
				dropCredentials(req)
				r.ua.log.Debug("sip registrar challenged cached credentials", "trunk", r.t.Name, "code", res.StatusCode)
			}
			auth := &challengeState{trunk: r.t}
			if err := auth.check(res); err != nil {
				return 0, err
			}
			challenge := res
			res, err = cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: r.t.Username, Password: r.t.Password})
			r.mu.Lock()
			r.cseq = req.CSeq().SeqNo
			r.mu.Unlock()
			if err != nil {
				return 0, fmt.Errorf("sip: REGISTER: %w", err)
			}
			credentialed = true
			if res.StatusCode == 401 || res.StatusCode == 407 {
				if chal := challengeOf(res); chal != nil && chal.Stale && attempt == 0 {
					continue // RFC 2617 section 3.2.1: retry with the fresh nonce
				}
				return 0, fmt.Errorf("%w: credentials rejected: %w", ErrAuthFailed, statusErrorFrom(res))
			}
			if res.IsSuccess() || res.StatusCode == 423 {
				r.remember(challenge) // accepted with nc=1: the next REGISTER reuses it
			}
		}
		if res.StatusCode == 403 && credentialed {
			r.forgetAuth()
			return 0, fmt.Errorf("%w: credentials refused: %w", ErrAuthFailed, statusErrorFrom(res))
		}
		if res.StatusCode == 423 && !briefRetried {
			// RFC 3261 section 10.3 step 7: ask again with at least Min-Expires.
			if n, err := strconv.Atoi(headerValue(res, "Min-Expires")); err == nil && n > 0 {
				briefRetried = true
				expiry = time.Duration(n) * time.Second
				continue
			}
		}
		if !res.IsSuccess() {
			return 0, statusErrorFrom(res)
		}
		return grantedExpiry(res, expiry), nil
	}
}

// build makes a REGISTER with our fixed Call-ID and the next CSeq (RFC 3261 section 10.2).
func (r *registration) build(b *boundListener, expiry time.Duration) *sipmsg.Request {
	t := r.t
	req := sipmsg.NewRequest(sipmsg.REGISTER, t.uri(""))
	req.SetTransport(sipgoNetwork(t.Transport))
	aor := sipmsg.Uri{Scheme: "sip", User: t.Username, Host: t.Host}
	from := &sipmsg.FromHeader{Address: aor, Params: sipmsg.NewParams()}
	from.Params.Add("tag", r.fromTag)
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: aor, Params: sipmsg.NewParams()})
	cid := sipmsg.CallIDHeader(r.callID)
	req.AppendHeader(&cid)
	r.mu.Lock()
	r.cseq++
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: r.cseq, MethodName: sipmsg.REGISTER})
	r.mu.Unlock()
	ct := r.ua.contact(t.Username, b)
	instanceParams(&ct, r.instance)
	req.AppendHeader(&ct)
	req.AppendHeader(sipmsg.NewHeader("Expires", strconv.Itoa(int(expiry.Seconds()))))
	req.AppendHeader(sipmsg.NewHeader("User-Agent", r.ua.cfg.UserAgent))
	req.AppendHeader(sipmsg.NewHeader("Allow", allowMethods))
	return req
}

// grantedExpiry reads the lifetime the registrar granted: the expires parameter of a Contact
// or the Expires header (RFC 3261 section 10.2.4), else what we asked for.
func grantedExpiry(res *sipmsg.Response, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		if i := strings.Index(strings.ToLower(h.Value()), "expires="); i >= 0 {
			v := h.Value()[i+len("expires="):]
			if j := strings.IndexAny(v, ";,> "); j >= 0 {
				v = v[:j]
			}
			if n, err := strconv.Atoi(v); err == nil {
				return time.Duration(n) * time.Second
			}
		}
	}
	if n, err := strconv.Atoi(headerValue(res, "Expires")); err == nil {
		return time.Duration(n) * time.Second
	}
	return asked
}

// retryAfter reads the Retry-After header (RFC 3261 section 20.33) of a failure response.
func retryAfter(se *StatusError) time.Duration {
	v := se.header("Retry-After")
	if v == "" {
		return 0
	}
	v, _, _ = strings.Cut(v, ";")
	v, _, _ = strings.Cut(v, "(")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

func challengeOf(res *sipmsg.Response) *digest.Challenge {
	name := "WWW-Authenticate"
	if res.StatusCode == 407 {
		name = "Proxy-Authenticate"
	}
	h := res.GetHeader(name)
	if h == nil {
		return nil
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		return nil
	}
	return chal
}
