// Package telephony holds the vocabulary every part of Webtrunk shares:
// SIP transports (RFC 3261 section 18), telephone numbers and the
// numbering plans that turn what users dial and trunks send into E.164
// (ITU-T E.164), and the RTP payload formats negotiated in SDP (RFC 3551,
// RFC 7587, RFC 4733).
//
// It is a leaf: it imports nothing of Webtrunk, so that config, sip and
// transcode can all use the same types and none defines them again.
package telephony
