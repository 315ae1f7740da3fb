package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/turnserver"
	"github.com/webtrunk/webtrunk/gateway/webhook"
	"github.com/webtrunk/webtrunk/sip"
)

// Metric label values for the direction of a call, seen from the browser:
// an outbound call is dialled by a browser towards a trunk, an inbound call
// arrives from a trunk for a DID.
const (
	directionOutbound = "outbound"
	directionInbound  = "inbound"
)

// Metric label values for the two media directions of a bridged call.
const (
	mediaUplink   = "uplink"   // browser -> trunk
	mediaDownlink = "downlink" // trunk -> browser
)

// Metrics holds every Prometheus collector the gateway exports. It owns its
// registry, so several gateways (in tests) never share state, and the
// /metrics handler serves exactly these plus the Go and process collectors.
//
// Counters that the media path updates per packet are not here: the bridge
// counts with atomics on the session and adds the totals to these collectors
// when the call ends, so no collector is touched 50 times a second per call.
type Metrics struct {
	Registry *prometheus.Registry

	// CallsActive is the number of calls in progress, by direction.
	CallsActive *prometheus.GaugeVec
	// CallsTotal counts ended calls by direction and outcome (the hang-up
	// reason of the signaling protocol, e.g. "remote_hangup", "busy").
	CallsTotal *prometheus.CounterVec
	// CallsMaxConcurrent is calls.max_concurrent, the gateway-wide limit of
	// calls in progress (0: unlimited), to compare CallsActive with.
	CallsMaxConcurrent prometheus.Gauge
	// CallsOverCapacity counts calls refused because the gateway already
	// carried calls.max_concurrent calls, by direction: dials answered
	// over_capacity and INVITEs answered 503.
	CallsOverCapacity *prometheus.CounterVec
	// SetupSeconds is the time from dial (or incoming INVITE) to connected.
	SetupSeconds *prometheus.HistogramVec
	// Packets counts RTP packets relayed, by media direction.
	Packets *prometheus.CounterVec
	// PacketsLost counts RTP packets missing from the sequence, by media direction.
	PacketsLost *prometheus.CounterVec
	// PacketsDropped counts RTP packets refused because they came from an
	// address other than the negotiated (or latched) peer.
	PacketsDropped *prometheus.CounterVec
	// TranscodeSeconds accumulates time spent transcoding, by media direction.
	TranscodeSeconds *prometheus.CounterVec
	// WebSocketSessions is the number of connected signaling WebSockets.
	WebSocketSessions prometheus.Gauge
	// Registrations is 1 for each trunk whose registration is up, 0 otherwise.
	Registrations *prometheus.GaugeVec
	// DialsDenied counts dial attempts refused before reaching a trunk, by
	// reason: dial_rules, invalid_number, no_route, too_many_calls,
	// over_capacity or shutting_down.
	DialsDenied *prometheus.CounterVec
	// AuthFailures counts failed WebSocket authentications, by reason.
	AuthFailures *prometheus.CounterVec
	// WebSocketsRefused counts WebSockets refused for a connection limit,
	// by limit: gateway (http.max_connections) or user
	// (auth.max_connections_per_user).
	WebSocketsRefused *prometheus.CounterVec
	// OriginsRefused counts WebSocket upgrades refused for their Origin.
	OriginsRefused prometheus.Counter
	// AdminRefused counts admin listener requests refused with 401.
	AdminRefused prometheus.Counter
	// Resumes counts the events of call continuity across dropped
	// WebSockets, by outcome: parked (a connection with calls dropped),
	// resumed, taken_over (resumed while the old connection still looked
	// alive), expired (nobody resumed within calls.resume_window) and
	// refused (a resume token unknown, spent or of another user).
	Resumes *prometheus.CounterVec
	// ConnectionsParked is the number of dropped connections whose calls
	// wait for a resume now.
	ConnectionsParked prometheus.Gauge
	// ICERestarts counts ICE restarts the browsers asked for and the
	// gateway answered.
	ICERestarts prometheus.Counter
	// Reloads counts configuration reloads by result: ok or failed (the
	// file was unreadable or invalid and nothing changed).
	Reloads *prometheus.CounterVec
	// DTMFInfo counts digits carried by SIP INFO (registerDTMFInfo).
	DTMFInfo *prometheus.CounterVec
	// SRTPCalls counts ended calls whose trunk media was SRTP, by crypto
	// suite (RFC 4568 section 6.2).
	SRTPCalls *prometheus.CounterVec
	// SRTPFailed counts SRTP and SRTCP packets from the trunk dropped
	// because they failed authentication or were replayed (RFC 3711
	// section 3.3).
	SRTPFailed prometheus.Counter
	// Quality holds the collectors of call quality (registerQuality).
	Quality QualityMetrics
	// Transfers counts the browser's blind transfers by outcome
	// (registerTransfers).
	Transfers *prometheus.CounterVec
	// TrunkTransfers counts the trunks' transfers of calls (REFER from
	// the trunk) by outcome (registerTrunkTransfers).
	TrunkTransfers *prometheus.CounterVec
}

// NewMetrics creates the gateway's collectors in a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.CallsActive = m.gaugeVec("webtrunk_calls_active", "Calls in progress, by direction.", "direction")
	m.CallsTotal = m.counterVec("webtrunk_calls_total", "Ended calls, by direction and outcome.", "direction", "outcome")
	m.CallsMaxConcurrent = m.gauge("webtrunk_calls_max_concurrent",
		"The configured limit of calls in progress through the gateway (calls.max_concurrent); 0 is unlimited.")
	m.CallsOverCapacity = m.counterVec("webtrunk_calls_over_capacity_total",
		"Calls refused because the gateway was at calls.max_concurrent, by direction.", "direction")
	m.SetupSeconds = m.histogramVec("webtrunk_call_setup_seconds",
		"Time from dial or incoming INVITE to connected, in seconds.",
		[]float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60}, "direction")
	m.Packets = m.counterVec("webtrunk_rtp_packets_total", "RTP packets relayed, by media direction.", "media")
	m.PacketsLost = m.counterVec("webtrunk_rtp_packets_lost_total",
		"RTP packets missing from the sequence, by media direction.", "media")
	m.PacketsDropped = m.counterVec("webtrunk_rtp_packets_dropped_total",
		"RTP packets refused because they came from an address other than the negotiated peer.", "media")
	m.TranscodeSeconds = m.counterVec("webtrunk_transcode_seconds_total", "Time spent transcoding, by media direction.", "media")
	m.WebSocketSessions = m.gauge("webtrunk_websocket_sessions", "Connected signaling WebSockets.")
	m.Registrations = m.gaugeVec("webtrunk_trunk_registered",
		"1 when the trunk's SIP registration is up, 0 otherwise.", "trunk")
	m.DialsDenied = m.counterVec("webtrunk_dials_denied_total",
		"Dial attempts refused before reaching a trunk, by reason.", "reason")
	m.AuthFailures = m.counterVec("webtrunk_auth_failures_total", "Failed WebSocket authentications, by reason.", "reason")
	m.WebSocketsRefused = m.counterVec("webtrunk_websockets_refused_total",
		"WebSockets refused for a connection limit, by limit: gateway (http.max_connections) or user (auth.max_connections_per_user).",
		"limit")
	m.OriginsRefused = m.counter("webtrunk_websocket_origins_refused_total",
		"WebSocket upgrades refused because of their Origin header.")
	atZero(m.WebSocketsRefused.WithLabelValues, connLimitGateway, connLimitUser)
	m.registerContinuity()
	m.registerQuality()
	// Pre-create the label sets a dashboard expects to see at zero.
	atZero(m.CallsActive.WithLabelValues, directionOutbound, directionInbound)
	atZero(m.CallsOverCapacity.WithLabelValues, directionOutbound, directionInbound)
	atZero(m.Packets.WithLabelValues, mediaUplink, mediaDownlink)
	atZero(m.PacketsLost.WithLabelValues, mediaUplink, mediaDownlink)
	m.registerOperations()
	m.registerDTMFInfo()
	m.registerSRTP()
	m.registerTransfers()
	m.registerTrunkTransfers()

	return m
}

// counter creates a counter named name with help text help and registers
// it in m.Registry.
func (m *Metrics) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	m.Registry.MustRegister(c)

	return c
}

// gauge creates a gauge named name with help text help and registers it
// in m.Registry.
func (m *Metrics) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	m.Registry.MustRegister(g)

	return g
}

// counterVec creates a counter named name with help text help, partitioned
// by labels, and registers it in m.Registry.
func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(v)

	return v
}

// gaugeVec creates a gauge named name with help text help, partitioned by
// labels, and registers it in m.Registry.
func (m *Metrics) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(v)

	return v
}

// histogramVec creates a histogram named name with help text help and the
// upper bounds buckets, partitioned by labels, and registers it in
// m.Registry.
func (m *Metrics) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	m.Registry.MustRegister(v)

	return v
}

// atZero creates the series of each of values through with (the
// WithLabelValues of a collector with one label), so that a dashboard sees
// them at zero before their first event.
func atZero[M any](with func(...string) M, values ...string) {
	for _, v := range values {
		with(v)
	}
}

// counterFunc returns a counter named name with help text help whose value
// is read from f at each scrape.
func counterFunc(name, help string, f func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
}

// registerSIP adds the collectors read from the trunk-side user agent at
// each scrape: free RTP port pairs (webtrunk_rtp_ports_free), calls refused
// for want of one (webtrunk_rtp_ports_exhausted_total) and SIP traffic the
// user agent refused, by reason (webtrunk_sip_refused_total).
func (m *Metrics) registerSIP(ua *sip.UA) {
	ports := ua.Ports()
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webtrunk_rtp_ports_free",
			Help: "Trunk-side RTP/RTCP port pairs free for new calls (sip.rtp range).",
		}, func() float64 { return float64(ports.Free()) }),
		counterFunc("webtrunk_rtp_ports_exhausted_total", "Calls that found no free trunk-side RTP port pair.",
			ports.Exhausted),
		sipRefusedCollector{ua: ua, desc: prometheus.NewDesc("webtrunk_sip_refused_total",
			"SIP messages the user agent refused, by reason: unknown_source (no trunk allows the address), "+
				"foreign_in_dialog (an in-dialog request or CANCEL not from the call's trunk), "+
				"oversize (datagram over 32 KiB), invite_rate (over the per-source INVITE rate).",
			[]string{"reason"}, nil)},
	)
}

// sipRefusedCollector exports sip.UA.Stats as one counter with a reason label.
type sipRefusedCollector struct {
	ua   *sip.UA
	desc *prometheus.Desc
}

// Describe sends the collector's one descriptor.
func (c sipRefusedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect sends the user agent's current counters.
func (c sipRefusedCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.ua.Stats()
	for _, v := range []struct {
		reason string
		n      uint64
	}{
		{"unknown_source", s.UnknownSource},
		{"foreign_in_dialog", s.ForeignInDialog},
		{"oversize", s.Oversize},
		{"invite_rate", s.InviteRateLimited},
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.n), v.reason)
	}
}

// registerOperations adds the collectors of the operators' features:
// the admin listener and configuration reloads.
func (m *Metrics) registerOperations() {
	m.AdminRefused = m.counter("webtrunk_admin_refused_total",
		"Admin listener requests refused with 401 for a missing or wrong bearer token.")
	m.Reloads = m.counterVec("webtrunk_config_reloads_total",
		"Configuration reloads (SIGHUP or the admin API), by result: ok, or failed (nothing changed).", "result")
	atZero(m.Reloads.WithLabelValues, reloadOK, reloadFailed)
}

// registerRecords adds the call record collectors, read at each scrape
// from the recorder rec returns (nil before Listen): records written to
// the file, dropped, failed file writes, and per sink the records
// spooled, delivered, failed and dropped.
func (m *Metrics) registerRecords(recorder func() *cdr.Recorder) {
	stats := func() cdr.Stats {
		if r := recorder(); r != nil {
			return r.Stats()
		}

		return cdr.Stats{}
	}
	m.Registry.MustRegister(
		counterFunc("webtrunk_cdr_written_total", "Call detail records appended to cdr.file.",
			func() uint64 { return stats().Written }),
		counterFunc("webtrunk_cdr_dropped_total", "Call detail records lost because the in-memory record queue was full.",
			func() uint64 { return stats().Dropped }),
		counterFunc("webtrunk_cdr_file_errors_total", "Failed writes of cdr.file (each retried).",
			func() uint64 { return stats().FileErrors }),
		namedCollector{label: "sink",
			metrics: []namedMetric{
				{"webtrunk_cdr_spooled", "Call detail records waiting in a sink's spool, by sink.", prometheus.GaugeValue},
				{"webtrunk_cdr_delivered_total", "Call detail records a sink stored, by sink.", prometheus.CounterValue},
				{"webtrunk_cdr_sink_errors_total", "Failed writes to a sink (each retried), by sink.", prometheus.CounterValue},
				{"webtrunk_cdr_spool_dropped_total", "Call detail records that did not fit in a sink's spool, by sink.", prometheus.CounterValue},
			},
			read: readNamed(recorder, (*cdr.Recorder).SinkStats, func(s cdr.SinkStats) namedValues {
				return namedValues{s.Name, []float64{float64(s.Spooled), float64(s.Delivered), float64(s.Errors), float64(s.Dropped)}}
			}),
		}.init(),
	)
}

// registerWebhooks adds the webhook delivery collectors, read at each
// scrape from the sender hooks returns (nil before Listen): per receiver
// the events queued, delivered, failed attempts and dropped events.
func (m *Metrics) registerWebhooks(hooks func() *webhook.Sender) {
	m.Registry.MustRegister(namedCollector{label: "receiver",
		metrics: []namedMetric{
			{"webtrunk_webhook_queued", "Events waiting in a webhook receiver's queue, by receiver.", prometheus.GaugeValue},
			{"webtrunk_webhook_deliveries_total", "Events a webhook receiver accepted (2xx), by receiver.", prometheus.CounterValue},
			{"webtrunk_webhook_failures_total", "Failed delivery attempts (each retried), by receiver.", prometheus.CounterValue},
			{"webtrunk_webhook_dropped_total", "Events dropped because a queue was full, by receiver.", prometheus.CounterValue},
		},
		read: readNamed(hooks, (*webhook.Sender).Stats, func(s webhook.Stats) namedValues {
			return namedValues{s.Name, []float64{float64(s.Queued), float64(s.Delivered), float64(s.Failed), float64(s.Dropped)}}
		}),
	}.init())
}

// namedMetric is one metric of a namedCollector.
type namedMetric struct {
	name, help string
	kind       prometheus.ValueType
}

// readNamed builds a namedCollector's read function: at each scrape it
// takes the source from current (nil before Listen: nothing to report),
// lists its entries with stats and turns each into namedValues with row.
func readNamed[S any, E any](current func() *S, stats func(*S) []E, row func(E) namedValues) func() []namedValues {
	return func() []namedValues {
		src := current()
		if src == nil {
			return nil
		}
		entries := stats(src)
		out := make([]namedValues, 0, len(entries))
		for _, e := range entries {
			out = append(out, row(e))
		}

		return out
	}
}

// namedValues are the values of one named thing, in the order of the
// collector's metrics.
type namedValues struct {
	name   string
	values []float64
}

// namedCollector exports metrics of named things (record sinks, webhook
// receivers) read at each scrape, labelled with their names.
type namedCollector struct {
	label   string
	metrics []namedMetric
	descs   []*prometheus.Desc
	read    func() []namedValues
}

// init builds the descriptors.
func (c namedCollector) init() namedCollector {
	for _, m := range c.metrics {
		c.descs = append(c.descs, prometheus.NewDesc(m.name, m.help, []string{c.label}, nil))
	}

	return c
}

// Describe sends the collector's descriptors.
func (c namedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect sends each named thing's current values.
func (c namedCollector) Collect(ch chan<- prometheus.Metric) {
	for _, nv := range c.read() {
		for i, d := range c.descs {
			ch <- prometheus.MustNewConstMetric(d, c.metrics[i].kind, nv.values[i], nv.name)
		}
	}
}

// registerContinuity creates and registers the collectors of call
// continuity across dropped WebSockets and network changes (Resumes,
// ConnectionsParked, ICERestarts).
func (m *Metrics) registerContinuity() {
	m.Resumes = m.counterVec("webtrunk_resumes_total",
		"Call continuity across dropped WebSockets, by outcome: parked, resumed, taken_over, expired, refused.", "outcome")
	m.ConnectionsParked = m.gauge("webtrunk_connections_parked",
		"Dropped WebSocket connections whose calls wait for a resume (calls.resume_window).")
	m.ICERestarts = m.counter("webtrunk_ice_restarts_total", "ICE restarts of browsers answered on their calls.")
	atZero(m.Resumes.WithLabelValues, resumeParked, resumeOK, resumeTakeover, resumeExpired, resumeRefused)
}

// registerTURN adds the collectors of the embedded TURN server, read from
// stats at each scrape: allocations now (webtrunk_turn_allocations) and
// the counters webtrunk_turn_allocations_total,
// webtrunk_turn_relayed_bytes_total, webtrunk_turn_refused_peers_total
// (permissions and datagrams for any address but the gateway's media
// address), webtrunk_turn_bad_credentials_total,
// webtrunk_turn_quota_refused_total and webtrunk_turn_dropped_total
// (datagrams over turn.max_bandwidth). All stay 0 without turn.listen.
func (m *Metrics) registerTURN(stats func() turnserver.Stats) {
	counter := func(name, help string, v func(turnserver.Stats) uint64) prometheus.Collector {
		return counterFunc(name, help, func() uint64 { return v(stats()) })
	}
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webtrunk_turn_allocations", Help: "Allocations of the embedded TURN server now.",
		}, func() float64 { return float64(stats().Allocations) }),
		counter("webtrunk_turn_allocations_total", "Allocations the embedded TURN server made.",
			func(s turnserver.Stats) uint64 { return s.AllocationsTotal }),
		counter("webtrunk_turn_relayed_bytes_total", "Payload bytes the embedded TURN server relayed, both ways.",
			func(s turnserver.Stats) uint64 { return s.RelayedBytes }),
		counter("webtrunk_turn_refused_peers_total",
			"TURN permissions and datagrams refused because their peer is not the gateway's media address.",
			func(s turnserver.Stats) uint64 { return s.RefusedPeers }),
		counter("webtrunk_turn_bad_credentials_total", "TURN requests refused for malformed, expired or wrong credentials.",
			func(s turnserver.Stats) uint64 { return s.BadCredentials }),
		counter("webtrunk_turn_quota_refused_total", "TURN allocations refused by the per-user or per-address quota.",
			func(s turnserver.Stats) uint64 { return s.QuotaRefused }),
		counter("webtrunk_turn_dropped_total", "Datagrams the embedded TURN server dropped over turn.max_bandwidth.",
			func(s turnserver.Stats) uint64 { return s.Dropped }),
	)
}

// registerDTMFInfo adds webtrunk_dtmf_info_total: digits carried by SIP
// INFO, by outcome: sent (to the trunk, answered 2xx), failed (refused or
// unanswered), dropped (the browser's digits came faster than their INFOs
// went out) and received (from the trunk, passed to the browser).
func (m *Metrics) registerDTMFInfo() {
	m.DTMFInfo = m.counterVec("webtrunk_dtmf_info_total", "DTMF digits carried by SIP INFO, by outcome.", "outcome")
	atZero(m.DTMFInfo.WithLabelValues, infoSent, infoFailed, infoDropped, infoReceived)
}

// registerSRTP creates and registers the collectors of SRTP on trunks
// (SRTPCalls, SRTPFailed), with both suites' label sets at zero.
func (m *Metrics) registerSRTP() {
	m.SRTPCalls = m.counterVec("webtrunk_trunk_srtp_calls_total",
		"Ended calls whose trunk media was SRTP keyed by SDES, by crypto suite.", "suite")
	m.SRTPFailed = m.counter("webtrunk_trunk_srtp_failed_total",
		"SRTP and SRTCP packets from trunks dropped for failing authentication or being replayed.")
	atZero(m.SRTPCalls.WithLabelValues, "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
}

// registerRedis adds the collectors of the limits shared in Redis
// (cluster.redis.url): webtrunk_redis_up (1 while the last operation
// reached Redis, read from up at each scrape) and
// webtrunk_redis_errors_total by operation (begin: a dial's limits, end:
// a call's end), which it returns.
func (m *Metrics) registerRedis(up func() bool) *prometheus.CounterVec {
	errs := m.counterVec("webtrunk_redis_errors_total",
		"Operations on the shared limits that could not reach Redis within cluster.redis.timeout, by op: begin, end.", "op")
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "webtrunk_redis_up", Help: "1 while the last operation on the shared limits reached Redis, else 0.",
	}, func() float64 {
		if up() {
			return 1
		}

		return 0
	}))
	atZero(errs.WithLabelValues, "begin", "end")

	return errs
}

// registerExtensions creates and registers the collectors of users'
// extensions (auth.users[].sip_account): webtrunk_extension_registered
// by user (1 while the registrar holds this gateway's binding) and
// webtrunk_extension_register_failures_total by user and SIP status.
func (m *Metrics) registerExtensions() (*prometheus.GaugeVec, *prometheus.CounterVec) {
	registered := m.gaugeVec("webtrunk_extension_registered",
		"1 while the user's extension (auth.users[].sip_account) holds a binding to this gateway on its registrar.", "user")
	failures := m.counterVec("webtrunk_extension_register_failures_total",
		"REGISTERs of users' extensions that failed, by user and SIP status (0: no response).", "user", "code")

	return registered, failures
}

// QualityMetrics are the collectors of call quality.
type QualityMetrics struct {
	// MOS is the distribution of the estimated mean opinion score (1 to
	// 4.5, cdr.EstimateMOS) of each direction of each call that carried
	// media, at its end: webtrunk_call_mos{direction}.
	MOS *prometheus.HistogramVec
	// JitterBuffer counts both jitter buffers' work by outcome:
	// reordered (packets received out of order and decoded in order) and
	// late (packets that came after their time had been concealed):
	// webtrunk_jitter_buffer_packets_total{outcome}.
	JitterBuffer *prometheus.CounterVec
	// Events counts the quality events raised for browsers, by kind
	// (high_loss, high_jitter, low_mos): webtrunk_quality_events_total.
	Events *prometheus.CounterVec
}

// Outcomes of QualityMetrics.JitterBuffer.
const (
	jitterReordered = "reordered"
	jitterLate      = "late"
)

// registerQuality creates and registers the call quality collectors.
func (m *Metrics) registerQuality() {
	q := &m.Quality
	q.MOS = m.histogramVec("webtrunk_call_mos",
		"Estimated mean opinion score (ITU-T G.107 E-model, 1 to 4.5) of each direction of each call at its end.",
		[]float64{1, 1.5, 2, 2.5, 3, 3.5, 3.8, 4, 4.2, 4.4, 4.5}, "direction")
	q.JitterBuffer = m.counterVec("webtrunk_jitter_buffer_packets_total",
		"Packets the jitter buffers (browser uplink, trunk downlink) decoded in order though they came out of order (reordered), or that came too late to use (late).",
		"outcome")
	q.Events = m.counterVec("webtrunk_quality_events_total",
		"Quality warnings raised for browsers, by kind: high_loss, high_jitter, low_mos.", "kind")
	atZero(q.MOS.WithLabelValues, mediaUplink, mediaDownlink)
	atZero(q.JitterBuffer.WithLabelValues, jitterReordered, jitterLate)
}

// registerTransfers adds webtrunk_transfers_total: the browser's blind
// transfers (transfer.go) by outcome: refused (by the gateway's checks,
// nothing sent), rejected (the trunk refused the REFER or did not answer
// it), failed (a NOTIFY reported the target failed) and succeeded.
func (m *Metrics) registerTransfers() {
	m.Transfers = m.counterVec("webtrunk_transfers_total",
		"Blind transfers asked by browsers (a REFER to the trunk, or a call the gateway places), by outcome.", "outcome")
	atZero(m.Transfers.WithLabelValues, transferRefused, transferRejected, transferFailed, transferSucceeded)
}
