package sipws

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the front door's Prometheus collectors (README,
// "Metrics").
type Metrics struct {
	// Connections is the number of open SIP over WebSocket connections.
	Connections prometheus.Gauge
	// Registrations is the number of current contact bindings.
	Registrations prometheus.Gauge
	// Requests counts the SIP requests received, by method (other
	// methods as "other").
	Requests *prometheus.CounterVec
	// Refused counts what was refused, by reason: subprotocol, malformed,
	// flood, auth (a failed digest), registrations (over the user's
	// limit).
	Refused *prometheus.CounterVec
}

// NewMetrics returns unregistered collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webtrunk_sipws_connections", Help: "Open SIP over WebSocket connections.",
		}),
		Registrations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webtrunk_sipws_registrations", Help: "Current SIP over WebSocket contact bindings.",
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webtrunk_sipws_requests_total", Help: "SIP requests received over WebSocket, by method.",
		}, []string{"method"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webtrunk_sipws_refused_total", Help: "SIP over WebSocket input refused, by reason.",
		}, []string{"reason"}),
	}
}

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Connections, m.Registrations, m.Requests, m.Refused}
}
