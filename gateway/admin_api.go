package gateway

import (
	"net/http"

	"github.com/webtrunk/webtrunk/config"
)

// adminAPI adds the admin API's endpoints (docs/admin-api.yaml) to mux.
func (g *Gateway) adminAPI(mux *http.ServeMux) {
	mux.HandleFunc(config.AdminPathPrefix, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "not_found"})
	})
}
