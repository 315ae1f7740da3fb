// Package rtpstream is the receiving side's accounting of one RTP stream
// (RFC 3550): sequence number tracking with wrap-around, restarts and
// probation as in appendix A.1, cumulative and per-interval loss as in
// appendix A.3, and interarrival jitter as in section 6.4.1 and appendix
// A.8. The bridge's packet counters, the concealment of lost packets and
// the RTCP receiver reports all count with a Receiver, so the loss of a
// call is computed one way in logs, metrics and RTCP.
//
// It also holds the RTP header constants the media path shares. It is a
// leaf: it imports nothing of Webtrunk.
package rtpstream
