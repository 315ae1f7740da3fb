package gateway

import (
	"net/http"

	"github.com/webtrunk/webtrunk/config"
)

// routes builds the HTTP handler: liveness and readiness probes, Prometheus
// metrics when metrics.listener is http, the WebSocket signaling endpoint /ws and the browser client (the
// softphone page and the client library) at every other path.
func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.handleHealthz)
	mux.HandleFunc("GET /readyz", g.handleReadyz)
	mux.HandleFunc("GET /ws", g.handleWS)
	mux.HandleFunc("POST "+OriginCheckPath, g.handleOriginCheck)
	mux.Handle("GET /", g.webHandler())
	if p := g.cfg.SIPWebSocket.Path; p != "" {
		mux.Handle("GET "+p, g.sipWSHandler())
	}
	if m := g.cfg.Metrics; m.Enabled && m.Listener == config.MetricsOnHTTP {
		mux.Handle("GET "+m.Path, g.metricsHandler())
	}

	return mux
}

// handleHealthz answers 200 while the process is alive and serving HTTP.
func (g *Gateway) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReadyz answers 200 when the gateway takes new calls, and 503 with the
// reason while it starts or drains, while it carries calls.max_concurrent
// calls (so that a load balancer sends new users to another gateway), while
// every trunk-side RTP port pair (sip.rtp) is taken, or while a trunk that
// registers has no current registration.
//
// With the query parameter verbose (/readyz?verbose) the verdict is
// followed by one line per trunk (writeTrunkStates).
func (g *Gateway) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, verbose := r.URL.Query()["verbose"]
	unavailable := func(why string) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(why + "\n"))
		if verbose {
			g.writeTrunkStates(w)
		}
	}
	switch {
	case g.draining.Load():
		unavailable("draining")
	case !g.ready.Load():
		unavailable("starting")
	case g.admission.full():
		unavailable("at call capacity")
	case g.ua.Ports().Free() == 0:
		unavailable("no free RTP ports")
	case !g.ua.Ready():
		unavailable("trunk not registered")
	default:
		_, _ = w.Write([]byte("ready\n"))
		if verbose {
			g.writeTrunkStates(w)
		}
	}
}

// slogErrorLogger adapts the gateway logger to promhttp's error logger.
type slogErrorLogger struct {
	log interface{ Error(string, ...any) }
}

// Println logs a metrics handler error.
func (l slogErrorLogger) Println(v ...any) { l.log.Error("metrics handler", "error", v) }
