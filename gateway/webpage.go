package gateway

import (
	"net/http"

	"github.com/webtrunk/webtrunk/gateway/web"
)

// webHandler serves the browser client: the client library always, the
// demo softphone page unless http.softphone is off.
func (g *Gateway) webHandler() http.Handler {
	if !g.cfg.HTTP.Softphone {
		return web.Handler(web.WithoutSoftphone())
	}

	return web.Handler()
}
