// Package web serves Webtrunk's browser client from files embedded in the
// binary: the softphone page at "/" (index.html, softphone.js,
// softphone.css) and the client library, the ES module webtrunk.js (with
// the modules it imports, webtrunk-call.js, webtrunk-core.js and
// webtrunk-media.js), which
// any page of the operator's may import, from any origin. The page talks to
// the gateway's WebSocket signaling endpoint "/ws" on the same host;
// docs/client.md documents the library.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html webtrunk.js webtrunk-call.js webtrunk-core.js webtrunk-media.js softphone.js softphone.css
var files embed.FS

// ContentSecurityPolicy is the Content-Security-Policy header sent with
// every file (W3C CSP Level 3): scripts and styles only from the gateway's
// own origin (no inline code), network connections only to the same origin
// (which covers ws: and wss: of the same host), no plug-ins, no framing,
// no form posts elsewhere.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"connect-src 'self'; img-src 'self' data:; media-src 'self' blob:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file with the headers it is served with.
type asset struct {
	name        string
	contentType string
	body        []byte
	etag        string
	library     bool // part of the client library, importable cross-origin
}

// Option changes what Handler serves.
type Option func(*options)

// options are the settings of Handler.
type options struct {
	noSoftphone bool
}

// WithoutSoftphone leaves the demo softphone page out (configuration key
// http.softphone false): only the client library is served.
func WithoutSoftphone() Option { return func(o *options) { o.noSoftphone = true } }

// routes maps request paths to embedded file names.
var routes = map[string]string{
	"/":                  "index.html",
	"/index.html":        "index.html",
	"/webtrunk.js":       "webtrunk.js",
	"/webtrunk-call.js":  "webtrunk-call.js",
	"/webtrunk-core.js":  "webtrunk-core.js",
	"/webtrunk-media.js": "webtrunk-media.js",
	"/softphone.js":      "softphone.js",
	"/softphone.css":     "softphone.css",
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// Handler returns the handler of the browser client. It answers GET and HEAD
// for "/" (and "/index.html"), "/webtrunk.js", "/webtrunk-call.js",
// "/webtrunk-core.js", "/webtrunk-media.js", "/softphone.js" and
// "/softphone.css"; any other path
// gets 404 and any other method 405. Every response carries
// ContentSecurityPolicy, X-Content-Type-Options nosniff, Referrer-Policy
// no-referrer and a Permissions-Policy that grants the microphone to the
// page's own origin only. The library's modules are also sent with
// "Access-Control-Allow-Origin: *": browsers fetch module scripts in CORS
// mode, and the files are public and carry no credentials. Files are sent
// with a strong ETag (a SHA-256 of the content) and "Cache-Control:
// no-cache", so browsers keep them but revalidate (304 Not Modified, RFC 9111
// section 5.2.2.4) and pick up a new version as soon as the gateway is
// upgraded.
//
// With the option WithoutSoftphone the page's own files ("/",
// "/index.html", "/softphone.js", "/softphone.css") answer 404 and only the
// library is served.
func Handler(opts ...Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	assets := make(map[string]*asset, len(routes))
	byName := map[string]*asset{}
	for route, name := range routes {
		if o.noSoftphone && !strings.HasPrefix(name, "webtrunk") {
			continue
		}
		a, ok := byName[name]
		if !ok {
			body, err := files.ReadFile(name)
			if err != nil { // unreachable: the names are embedded above
				return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					http.Error(w, "web: missing embedded file", http.StatusInternalServerError)
				})
			}
			sum := sha256.Sum256(body)
			a = &asset{
				name:        name,
				contentType: contentTypes[path.Ext(name)],
				body:        body,
				etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
				library:     strings.HasPrefix(name, "webtrunk"),
			}
			byName[name] = a
		}
		assets[route] = a
	}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "microphone=(self), camera=(), geolocation=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)

			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, fmt.Sprintf("method %s not allowed", r.Method), http.StatusMethodNotAllowed)

			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		if a.library {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}
