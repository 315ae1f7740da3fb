package sip

import "github.com/webtrunk/webtrunk/telephony"

// telephoneEvent is the encoding name of RFC 4733 named telephone events
// (DTMF) in a=rtpmap; the trunk side only uses its 8000 Hz variant.
const telephoneEvent = telephony.NameTelephoneEvent
