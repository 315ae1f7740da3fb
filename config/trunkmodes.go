package config

// PRACKMode is a trunk's use of reliable provisional responses (RFC 3262,
// Trunk.PRACK).
type PRACKMode string

const (
	// PRACKOff never uses 100rel: outbound INVITEs do not offer it, a
	// reliable provisional response from the trunk is taken as an
	// ordinary one (no PRACK), and an inbound INVITE that requires it is
	// refused with 420 Bad Extension (RFC 3261 section 8.2.2.3).
	PRACKOff PRACKMode = "off"
	// PRACKSupported offers 100rel in outbound INVITEs (Supported) and
	// acknowledges the trunk's reliable 18x with PRACK (RFC 3262 section
	// 4); inbound, provisional responses are sent reliably only when the
	// INVITE requires it. It is the default.
	PRACKSupported PRACKMode = "supported"
	// PRACKRequired requires 100rel of outbound calls (Require: 100rel;
	// a trunk without it answers 420 and the call fails); inbound, every
	// 180 is sent reliably, and an INVITE that does not support 100rel is
	// refused with 421 Extension Required (RFC 3261 section 21.4.16).
	PRACKRequired PRACKMode = "required"
)

// DTMFMode is how digits from the browser are sent to a trunk (Trunk.DTMF).
// Digits the trunk sends are taken both as RFC 4733 events and as SIP INFO
// in every mode.
type DTMFMode string

const (
	// DTMFRFC4733 sends digits as RFC 4733 telephone-events in the RTP
	// stream. It is the default.
	DTMFRFC4733 DTMFMode = "rfc4733"
	// DTMFInfo sends each digit in its own SIP INFO request inside the
	// call's dialog (RFC 6086), with the body type of Trunk.DTMFInfo.
	DTMFInfo DTMFMode = "info"
	// DTMFAuto sends RFC 4733 events when the trunk's SDP negotiated
	// telephone-event, and SIP INFO otherwise.
	DTMFAuto DTMFMode = "auto"
)

// DTMFInfoType is the body of the SIP INFO requests that carry digits to
// a trunk (Trunk.DTMFInfo).
type DTMFInfoType string

const (
	// DTMFInfoRelay is application/dtmf-relay: "Signal=5" and
	// "Duration=250" lines (milliseconds). It is the default.
	DTMFInfoRelay DTMFInfoType = "dtmf-relay"
	// DTMFInfoPlain is application/dtmf: the digit alone.
	DTMFInfoPlain DTMFInfoType = "dtmf"
)

// setModeDefaults gives a trunk's PRACK and DTMF settings their static
// defaults.
func (t *Trunk) setModeDefaults() {
	t.PRACK = PRACKSupported
	t.DTMF = DTMFRFC4733
}

// validateModes reports the problems of a trunk's PRACK and DTMF settings
// under path. "" is left by a configuration built in code: the default.
func validateModes(p *problems, path string, t *Trunk) {
	if t.PRACK != "" {
		checkOneOf(p, path+".prack", t.PRACK, PRACKOff, PRACKSupported, PRACKRequired)
	}
	if t.DTMF != "" {
		checkOneOf(p, path+".dtmf", t.DTMF, DTMFRFC4733, DTMFInfo, DTMFAuto)
	}
	if t.DTMFInfo == "" {
		return
	}
	checkOneOf(p, path+".dtmf_info", t.DTMFInfo, DTMFInfoRelay, DTMFInfoPlain)
	if t.DTMF == "" || t.DTMF == DTMFRFC4733 {
		p.add(path+".dtmf_info", "only with dtmf info or auto: with rfc4733 no digit is sent by INFO")
	}
}
