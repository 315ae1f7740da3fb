// Package sip is Webtrunk's trunk side: a SIP user agent (RFC 3261) on sipgo that registers to
// carriers and PBXs, places and receives calls with plain RTP/AVP audio (PCMU, PCMA and
// telephone-event, offer/answer per RFC 3264), and keeps them up with re-INVITEs and session
// timers (RFC 4028).
//
// A UA is built from a Config (listeners, trunks, RTP port pool), run with Serve and stopped by
// cancelling Serve's context or with Close, which also releases a UA that never served. Outbound
// calls are placed with UA.Dial, inbound ones arrive as an IncomingCall at the handler given to
// Serve. Either way an established call is a Call, whose RTPConn carries the media and which
// ends with a BYE from either side; its resources (RTP ports, goroutines) are released when it
// ends.
package sip
