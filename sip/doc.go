// Package sip is Webtrunk's trunk side: a SIP user agent (RFC 3261) on sipgo that registers to
// carriers and PBXs, places and receives calls with plain RTP/AVP audio (PCMU, PCMA and
// telephone-event, offer/answer per RFC 3264), and keeps them up with re-INVITEs and session
// timers (RFC 4028). Provisional responses are acknowledged and sent reliably as each trunk's
// PRACKMode says (RFC 3262, prack.go), and DTMF digits travel by SIP INFO both ways (info.go).
//
// A UA is built from a Config (listeners, trunks, RTP port pool), run with Serve and stopped by
// cancelling Serve's context or with Close, which also releases a UA that never served. Outbound
// calls are placed with UA.Dial, inbound ones arrive as an IncomingCall at the handler given to
// Serve. Either way an established call is a Call, whose RTPConn carries the media and which
// ends with a BYE from either side; its resources (RTP ports, goroutines) are released when it
// ends.
//
// What the UA accepts: out-of-dialog requests only from a trunk's AllowedSources, new INVITEs
// at most Config.InviteRate per source (no RTP port is bound before the handler routed the call,
// see IncomingCall.Ring); requests inside a dialog, and CANCELs of a ringing call, only from the
// call's trunk over the dialog's transport (403 otherwise, the call untouched); SIP datagrams
// up to MaxDatagramSize (513 beyond). Refusals are counted (UA.Stats) and logged at most once
// per source and Config.RefusedLogInterval, with a summary per interval. User strings written
// into headers pass DisplayName or are refused unless they are E.164 or dialable numbers.
//
// A trunk's media can be SRTP (RFC 3711) keyed by SDES in the SDP (RFC 4568, Trunk.MediaEncryption:
// EncryptionSDES or EncryptionSDESOptional, over TLS only): offers carry one a=crypto line per
// suite (AES_CM_128_HMAC_SHA1_80 and _32) with keys fresh per call from crypto/rand, and the
// call's RTPConn protects and unprotects RTP and RTCP in place, dropping and counting
// (RTPStats.SRTPFailed) what fails authentication before it can latch the peer's address.
package sip
