package sip

import "time"

// DialogEventKind is the kind of a DialogEvent.
type DialogEventKind int

const (
	// EventHold means the trunk put the call on hold with a re-INVITE (RFC 3264 section 8.4).
	EventHold DialogEventKind = iota + 1
	// EventResume means the trunk took the call off hold.
	EventResume
	// EventMediaChanged means an offer/answer exchange changed the trunk's media address, codec
	// or telephone-event payload type (RFC 3264 section 8.3); RTP already goes to the new address.
	EventMediaChanged
	// EventRefreshFailed means a session refresh we sent (RFC 4028 section 7.4) failed; Err says why.
	EventRefreshFailed
	// EventDigit means the trunk sent a DTMF digit in a SIP INFO (info.go); Digit and Duration
	// say which and how long.
	EventDigit
	// EventTransfer means the trunk reported the progress of a transfer we asked for in a NOTIFY
	// (refer.go, RFC 3515 section 2.4.5); TransferStatus, TransferReason and TransferFinal say
	// what.
	EventTransfer
	// EventRefer means the trunk asked, in a REFER, that the call be transferred to someone else
	// (referin.go, RFC 3515); Refer says to whom and must be answered.
	EventRefer
)

// String returns the event kind's name.
func (k DialogEventKind) String() string {
	switch k {
	case EventHold:
		return "hold"
	case EventResume:
		return "resume"
	case EventMediaChanged:
		return "media-changed"
	case EventRefreshFailed:
		return "refresh-failed"
	case EventDigit:
		return "digit"
	case EventTransfer:
		return "transfer"
	case EventRefer:
		return "refer"
	default:
		return "unknown"
	}
}

// DialogEvent reports a change inside an established call.
type DialogEvent struct {
	Kind DialogEventKind
	// Media is the call's media state after the change.
	Media Media
	// Err is set for EventRefreshFailed.
	Err error
	// Digit is the DTMF character ('0'-'9', '*', '#', 'A'-'D') of an EventDigit.
	Digit rune
	// Duration is how long the trunk said an EventDigit's key was pressed.
	Duration time.Duration
	// TransferStatus is the SIP status code (100-699) of the referred call an EventTransfer's
	// sipfrag reports (RFC 3420); TransferReason is its reason phrase, made safe to log.
	TransferStatus int
	TransferReason string
	// TransferFinal is set when the EventTransfer ends the transfer: a status of 200 or more,
	// or the subscription terminated.
	TransferFinal bool
	// Refer is the trunk's transfer request of an EventRefer; its receiver answers it with
	// Refer.Accept or Refer.Refuse.
	Refer *Refer
}

// emit queues ev for Events, or counts it as dropped when the queue is full.
func (c *Call) emit(ev DialogEvent) {
	select {
	case c.events <- ev:
	default:
		c.dropped.Add(1)
	}
}

// reportMediaChange emits hold, resume, or a changed address, codec or telephone-event payload
// type of the trunk, comparing the media before and after an offer/answer exchange.
func (c *Call) reportMediaChange(old, cur Media) {
	switch {
	case cur.Held && !old.Held:
		c.emit(DialogEvent{Kind: EventHold, Media: cur})
	case !cur.Held && old.Held:
		c.emit(DialogEvent{Kind: EventResume, Media: cur})
	case !cur.Held && (cur.Remote.Addr != old.Remote.Addr || cur.Codec != old.Codec || cur.TelephoneEventPT != old.TelephoneEventPT):
		c.emit(DialogEvent{Kind: EventMediaChanged, Media: cur})
	}
}
