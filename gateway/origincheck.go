package gateway

import (
	"encoding/json"
	"net/http"
)

// OriginCheckPath is the HTTP endpoint that tells a page whether the
// gateway accepts WebSocket upgrades from its origin (docs/protocol.md,
// "Origin check"). A browser cannot read the status of a refused
// WebSocket handshake, so a client whose connection failed before it
// opened asks here to tell a refused origin from an unreachable gateway.
const OriginCheckPath = "/ws/origin"

// originCheck is the answer of OriginCheckPath.
type originCheck struct {
	Origin  string `json:"origin"`
	Allowed bool   `json:"allowed"`
}

// handleOriginCheck answers a POST (which browsers send with an Origin
// header even from the gateway's own pages, and without a CORS preflight
// when it has no body) with {"origin": ..., "allowed": ...}, readable by
// any page (Access-Control-Allow-Origin: *). It reveals only whether the
// asking origin may open the WebSocket, counts and logs nothing, and
// changes nothing.
func (g *Gateway) handleOriginCheck(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(originCheck{Origin: origin, Allowed: g.originKnown(origin)})
}
