package sip

import (
	"reflect"
)

// newTrunk wraps a configured trunk with its counters and, when it
// registers, its registration (not started).
func (ua *UA) newTrunk(t Trunk) *trunk {
	tr := &trunk{Trunk: t}
	if t.Register {
		tr.reg = newRegistration(ua, tr)
	}
	return tr
}

// trunkList returns the current trunks, in configuration order. The
// slice is never modified: SetTrunks replaces it.
func (ua *UA) trunkList() []*trunk { return *ua.trunks.Load() }

// startRegistrations starts the registration of every current trunk that
// registers; from then on SetTrunks starts those of new trunks itself.
func (ua *UA) startRegistrations() {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	ua.regsStarted = true
	for _, t := range ua.trunkList() {
		ua.startRegistrationLocked(t)
	}
}

// startRegistrationLocked runs t's registration until shutdown or its
// removal; ua.mu is held.
func (ua *UA) startRegistrationLocked(t *trunk) {
	if t.reg == nil || !ua.regsStarted || ua.quit {
		return
	}
	ua.regs.Go(func() { t.reg.run(ua.stop) })
}

// SetTrunks replaces the trunks with trunks (validated as in NewUA, every
// problem reported at once, nothing changed on error). A trunk whose name
// and settings are unchanged is kept as it is, with its registration and
// call count. Every other trunk is new: it starts registering at once when
// it registers. A removed or changed trunk takes no new call; its calls in
// progress continue on the settings they started with, and its
// registration is removed (REGISTER with Expires: 0, RFC 3261 section
// 10.2.2). Inbound requests are matched against the new trunks from now on.
func (ua *UA) SetTrunks(trunks []Trunk) error {
	c := ua.cfg
	c.Trunks = trunks
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return err
	}
	ua.mu.Lock()
	defer ua.mu.Unlock()
	old := ua.trunkList()
	next := make([]*trunk, 0, len(c.Trunks))
	kept := map[*trunk]bool{}
	for _, t := range c.Trunks {
		var tr *trunk
		for _, o := range old {
			if o.Name == t.Name && reflect.DeepEqual(o.Trunk, t) {
				tr = o
				kept[o] = true
				break
			}
		}
		if tr == nil {
			tr = ua.newTrunk(t)
			ua.startRegistrationLocked(tr)
		}
		next = append(next, tr)
	}
	ua.trunks.Store(&next)
	for _, o := range old {
		if !kept[o] && o.reg != nil {
			close(o.reg.quit)
		}
	}
	return nil
}
