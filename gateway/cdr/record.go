// Package cdr writes call detail records: one Record per call, outbound
// or inbound, answered, refused or failed, with what billing and
// troubleshooting need. A Recorder takes records from call control
// without waiting on a disk or a database, appends them to a JSON Lines
// file (the embedded sink, no server needed) and hands them to further
// sinks (PostgreSQL) through an on-disk spool, so that a slow or
// unreachable sink loses none.
package cdr

import (
	"math"
	"time"
)

// TimeLayout is the format of every time in a Record: RFC 3339 in UTC
// with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is an instant of a call, marshalled as TimeLayout in UTC; the zero
// Time (an event that did not happen) is marshalled as null.
type Time struct{ time.Time }

// At returns t as a record Time, cut to milliseconds in UTC.
func At(t time.Time) Time {
	if t.IsZero() {
		return Time{}
	}

	return Time{t.UTC().Truncate(time.Millisecond)}
}

// MarshalJSON writes the time as a TimeLayout string, or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)

	return append(b, '"'), nil
}

// UnmarshalJSON reads a TimeLayout (or any RFC 3339) string, or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}

		return nil
	}
	var p time.Time
	if err := p.UnmarshalJSON(b); err != nil {
		return err //nolint:wrapcheck // the time package's error says it all
	}
	*t = At(p)

	return nil
}

// Direction of a call, seen from the browser.
const (
	// Outbound is a call a browser dialled towards a trunk.
	Outbound = "outbound"
	// Inbound is a call a trunk offered to a DID.
	Inbound = "inbound"
)

// Record is one call's detail record. Times are UTC with milliseconds;
// a time of an event that did not happen is null (Ring of a call
// refused at once, Answer of a call never answered).
type Record struct {
	// RecordID identifies the record itself, 32 hexadecimal digits, unique
	// even where call ids repeat (browsers choose their dial ids); sinks
	// key on it, so a record written twice is stored once.
	RecordID string `json:"record_id"`
	// ID is the gateway's call id (the browser's dial id, or "in-..." for
	// an inbound call).
	ID string `json:"id"`
	// SIPCallID is the trunk dialog's Call-ID (RFC 3261 section 20.8);
	// empty when no INVITE was sent or received.
	SIPCallID string `json:"sip_call_id,omitempty"`
	// Direction is Outbound or Inbound.
	Direction string `json:"direction"`
	// User is the browser user who dialled or was called; empty for an
	// inbound call refused before a user was found.
	User string `json:"user,omitempty"`
	// FromDialled and ToDialled are the numbers as the caller gave them:
	// for an outbound call the user's caller ID and the number typed in
	// the browser; for an inbound call the trunk's From and Request-URI
	// users.
	FromDialled string `json:"from_dialled,omitempty"`
	ToDialled   string `json:"to_dialled,omitempty"`
	// From and To are the numbers as sent or routed, in E.164: the caller
	// ID and the normalised number of an outbound INVITE, or the
	// normalised caller and DID of an inbound one.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Trunk is the trunk's name; empty when none was chosen.
	Trunk string `json:"trunk,omitempty"`
	// Start is when the dial or the INVITE arrived.
	Start Time `json:"start"`
	// Ring is the first ringing or early media (outbound: the trunk's
	// first 18x; inbound: the browsers rang).
	Ring Time `json:"ring"`
	// Answer is when the call was answered (the trunk's 200 OK, or the
	// browser's accept answered to the trunk).
	Answer Time `json:"answer"`
	// End is when the call ended.
	End Time `json:"end"`
	// BillableSeconds is the answered time rounded up to whole seconds
	// (End minus Answer); 0 when never answered.
	BillableSeconds int64 `json:"billable_seconds"`
	// Reason is the hang-up reason or refusal code of docs/protocol.md
	// ("remote_hangup", "busy", "forbidden_number", "limit_calls_per_minute",
	// ...).
	Reason string `json:"reason"`
	// SIPCode and SIPReason are the SIP status that ended the call, when
	// one did (RFC 3261 section 21).
	SIPCode   int    `json:"sip_code,omitempty"`
	SIPReason string `json:"sip_reason,omitempty"`
	// Codecs are both legs' codecs and each direction's pipeline.
	Codecs string `json:"codecs,omitempty"`
	// Uplink (browser to trunk) and Downlink (trunk to browser) are the
	// media counters of each direction, as received from its source.
	Uplink   Media `json:"uplink"`
	Downlink Media `json:"downlink"`
	// BrowserAddr is the IP address of the browser's WebSocket.
	BrowserAddr string `json:"browser_addr,omitempty"`
	// TrunkQuality is what the trunk's RTCP reports said of the uplink; absent
	// when the trunk sent none.
	TrunkQuality *TrunkQuality `json:"trunk_quality,omitempty"`
	// Attempts are the trunks an outbound call tried, in order, separated
	// by spaces, each "trunk[@ip:port]:outcome[:sip_code]" (outcome
	// answered, next, failed, or why it was skipped: down, held,
	// unregistered, unresolved); empty when no trunk was tried.
	Attempts string `json:"attempts,omitempty"`
}

// Media is one direction's media quality over the call.
type Media struct {
	// Packets counts RTP packets received from the source.
	Packets uint64 `json:"packets"`
	// Lost counts packets missing from the source's sequence (RFC 3550
	// appendix A.3).
	Lost uint64 `json:"lost"`
	// JitterMS is the source's interarrival jitter at the end of the call
	// (RFC 3550 appendix A.8), in milliseconds.
	JitterMS float64 `json:"jitter_ms"`
	// MOS is the estimated listening quality from 1 to 4.5 (EstimateMOS);
	// 0 when no packet arrived.
	MOS float64 `json:"mos"`
	// Reordered counts packets the jitter buffer received out of order and
	// still played in order, and Late those that came too late to be
	// played (their time was concealed); uplink only.
	Reordered uint64 `json:"reordered,omitempty"`
	Late      uint64 `json:"late,omitempty"`
}

// TrunkQuality is what the trunk's RTCP receiver reports said (RFC 3550
// section 6.4) of the gateway's stream to it, the uplink.
type TrunkQuality struct {
	// RTTMS is the round-trip time to the trunk, in milliseconds, from
	// its last report that echoed a sender report of the gateway; 0 when
	// none did.
	RTTMS float64 `json:"rtt_ms"`
	// Lost is the trunk's cumulative count of the uplink's packets lost.
	Lost int64 `json:"lost"`
	// JitterMS is the interarrival jitter the trunk measured on the
	// uplink, in milliseconds.
	JitterMS float64 `json:"jitter_ms"`
	// MOS is the listening quality of the uplink at the trunk estimated
	// from these figures (EstimateMOSRTT, the loss as Lost over the
	// packets sent), 1 to 4.5.
	MOS float64 `json:"mos"`
}

// NewMedia builds a direction's Media from its counters and computes its
// MOS estimate.
func NewMedia(packets, lost uint64, jitter time.Duration) Media {
	m := Media{Packets: packets, Lost: lost, JitterMS: math.Round(float64(jitter)/float64(time.Microsecond)) / 1000}
	if packets > 0 {
		m.MOS = EstimateMOS(float64(lost)/float64(packets+lost), jitter)
	}

	return m
}

// NewMediaRTT is NewMedia with the round-trip time of the trunk's hop
// known (EstimateMOSRTT) and the jitter buffer's counts.
func NewMediaRTT(packets, lost uint64, jitter, rtt time.Duration, reordered, late uint64) Media {
	m := NewMedia(packets, lost, jitter)
	if packets > 0 {
		m.MOS = EstimateMOSRTT(float64(lost)/float64(packets+lost), jitter, rtt)
	}
	m.Reordered, m.Late = reordered, late

	return m
}

// EstimateMOS estimates a G.711 call's listening quality (mean opinion
// score, 1 to 4.5, two decimals) from the fraction of packets lost (0 to
// 1) and the jitter, with the E-model of ITU-T G.107 reduced to what the
// gateway measures: the one-way delay is taken as a 20 ms packet plus a
// jitter buffer of twice the jitter, the equipment impairment of G.711
// with packet loss concealment (Ie 0, Bpl 25.1, G.113 appendix I) gives
// Ie-eff, and the R factor becomes a MOS by G.107 annex B.
func EstimateMOS(lossFraction float64, jitter time.Duration) float64 {
	return EstimateMOSRTT(lossFraction, jitter, 0)
}

// EstimateMOSRTT is EstimateMOS with the network's share of the one-way
// delay known: half the round-trip time rtt (RFC 3550 section 6.4.1,
// from RTCP), added to the packet and jitter buffer delay.
func EstimateMOSRTT(lossFraction float64, jitter, rtt time.Duration) float64 {
	ppl := 100 * math.Min(math.Max(lossFraction, 0), 1)
	const bpl = 25.1
	ieEff := 95 * ppl / (ppl + bpl)
	delay := 20 + 2*float64(jitter)/float64(time.Millisecond) + float64(rtt)/float64(2*time.Millisecond) // ms
	id := 0.024 * delay
	if delay > 177.3 {
		id += 0.11 * (delay - 177.3)
	}
	r := 93.2 - id - ieEff
	var mos float64
	switch {
	case r <= 0:
		mos = 1
	case r >= 100:
		mos = 4.5
	default:
		mos = 1 + 0.035*r + 7e-6*r*(r-60)*(100-r)
	}

	return math.Round(math.Min(math.Max(mos, 1), 4.5)*100) / 100
}

// Billable returns the answered time of a call, counted in whole
// milliseconds, rounded up to whole seconds; 0 when answer is zero or not
// before end.
func Billable(answer, end time.Time) int64 {
	if answer.IsZero() || !end.After(answer) {
		return 0
	}
	ms := end.Sub(answer).Milliseconds()

	return (ms + 999) / 1000
}
