package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func serve(t *testing.T, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)

	return rec
}

func embedded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := files.ReadFile(name)
	if err != nil {
		t.Fatalf("embedded %s: %v", name, err)
	}

	return b
}

func TestHandlerServesFiles(t *testing.T) {
	tests := []struct {
		path, file, contentType string
	}{
		{"/", "index.html", "text/html; charset=utf-8"},
		{"/index.html", "index.html", "text/html; charset=utf-8"},
		{"/webtrunk.js", "webtrunk.js", "text/javascript; charset=utf-8"},
		{"/webtrunk-call.js", "webtrunk-call.js", "text/javascript; charset=utf-8"},
		{"/webtrunk-core.js", "webtrunk-core.js", "text/javascript; charset=utf-8"},
		{"/webtrunk-media.js", "webtrunk-media.js", "text/javascript; charset=utf-8"},
		{"/softphone.js", "softphone.js", "text/javascript; charset=utf-8"},
		{"/softphone.css", "softphone.css", "text/css; charset=utf-8"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := serve(t, http.MethodGet, tc.path, nil)
			if resp.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.Code)
			}
			if got := resp.Header().Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := resp.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", got)
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-cache",
				"Referrer-Policy":        "no-referrer",
			} {
				if got := resp.Header().Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			wantCORS := ""
			if strings.HasPrefix(tc.file, "webtrunk") {
				wantCORS = "*" // module scripts are fetched in CORS mode
			}
			if got := resp.Header().Get("Access-Control-Allow-Origin"); got != wantCORS {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, wantCORS)
			}
			if !strings.HasPrefix(resp.Header().Get("ETag"), `"`) {
				t.Errorf("ETag %q is not a strong validator", resp.Header().Get("ETag"))
			}
			if body := resp.Body.Bytes(); !bytes.Equal(body, embedded(t, tc.file)) {
				t.Errorf("body differs from %s", tc.file)
			}
		})
	}
}

func TestHandlerRevalidation(t *testing.T) {
	first := serve(t, http.MethodGet, "/webtrunk.js", nil)
	etag := first.Header().Get("ETag")
	tests := []struct {
		name, ifNoneMatch string
		want              int
	}{
		{"same version", etag, http.StatusNotModified},
		{"old version", `"0000"`, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := serve(t, http.MethodGet, "/webtrunk.js", http.Header{"If-None-Match": {tc.ifNoneMatch}})
			if resp.Code != tc.want {
				t.Fatalf("status %d, want %d", resp.Code, tc.want)
			}
			if tc.want == http.StatusNotModified && len(resp.Body.Bytes()) != 0 {
				t.Error("304 with a body")
			}
		})
	}
	if other := serve(t, http.MethodGet, "/softphone.js", nil).Header().Get("ETag"); other == etag {
		t.Errorf("two files share ETag %s", etag)
	}
}

func TestHandlerRefuses(t *testing.T) {
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/nope.js", http.StatusNotFound},
		{http.MethodGet, "/web.go", http.StatusNotFound},
		{http.MethodGet, "/../web.go", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/webtrunk.js", http.StatusMethodNotAllowed},
		{http.MethodHead, "/", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp := serve(t, tc.method, tc.path, nil)
			if resp.Code != tc.want {
				t.Fatalf("status %d, want %d", resp.Code, tc.want)
			}
			if tc.want == http.StatusMethodNotAllowed && resp.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", resp.Header().Get("Allow"))
			}
			if resp.Header().Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
		})
	}
}

// TestPageObeysPolicy checks what the strict policy would otherwise break
// silently in the browser: no inline script, style or event handler, and
// every referenced file is one the handler serves.
func TestPageObeysPolicy(t *testing.T) {
	doc, err := html.Parse(bytes.NewReader(embedded(t, "index.html")))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				switch {
				case strings.HasPrefix(a.Key, "on"):
					t.Errorf("<%s %s=...>: inline event handler", n.Data, a.Key)
				case a.Key == "style":
					t.Errorf("<%s style=...>: inline style", n.Data)
				case a.Key == "src" || (a.Key == "href" && n.Data == "link"):
					refs = append(refs, a.Val)
				}
			}
			switch n.Data {
			case "script":
				if n.FirstChild != nil {
					t.Error("inline <script> content")
				}
			case "style":
				t.Error("inline <style> element")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if len(refs) < 2 {
		t.Fatalf("page references %v, want the script and the stylesheet", refs)
	}
	for _, ref := range refs {
		if resp := serve(t, http.MethodGet, ref, nil); resp.Code != http.StatusOK {
			t.Errorf("page references %s, served with status %d", ref, resp.Code)
		}
	}
}

// TestScriptElementsExist checks that every element softphone.js looks up
// by id exists in index.html, and that ids are unique.
func TestScriptElementsExist(t *testing.T) {
	page := string(embedded(t, "index.html"))
	ids := map[string]int{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		ids[m[1]]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q used %d times", id, n)
		}
	}
	used := regexp.MustCompile(`\$\("([^"]+)"\)`).FindAllStringSubmatch(string(embedded(t, "softphone.js")), -1)
	if len(used) < 20 {
		t.Fatalf("found only %d element lookups in softphone.js", len(used))
	}
	for _, m := range used {
		if ids[m[1]] == 0 {
			t.Errorf("softphone.js looks up #%s, which index.html lacks", m[1])
		}
	}
}

// TestModuleImports checks every import of the page's and the library's
// modules: the imported file is served, and it exports each imported name
// (declared with export, or re-exported in an export list).
func TestModuleImports(t *testing.T) {
	importRE := regexp.MustCompile(`(?s)import \{([^}]*)\} from "([^"]+)"`)
	modules := []string{"softphone.js", "webtrunk.js", "webtrunk-call.js", "webtrunk-core.js", "webtrunk-media.js"}
	imports := 0
	for _, mod := range modules {
		for _, m := range importRE.FindAllStringSubmatch(string(embedded(t, mod)), -1) {
			imports++
			target := path.Join("/", m[2]) // "./x.js" and "/x.js" both resolve from "/"
			if resp := serve(t, http.MethodGet, target, nil); resp.Code != http.StatusOK {
				t.Errorf("%s imports %s: status %d", mod, m[2], resp.Code)

				continue
			}
			src := string(embedded(t, strings.TrimPrefix(target, "/")))
			exportList := strings.Join(regexp.MustCompile(`(?s)export \{([^}]*)\}`).FindAllString(src, -1), ",")
			for name := range strings.SplitSeq(m[1], ",") {
				name = strings.TrimSpace(name)
				if name == "" {
					continue
				}
				declared := regexp.MustCompile(`export (class|function|async function|const) ` + name + `\b`).MatchString(src)
				listed := regexp.MustCompile(`[{,\s]` + name + `[,\s}]`).MatchString(exportList)
				if !declared && !listed {
					t.Errorf("%s imports %s from %s, which does not export it", mod, name, m[2])
				}
			}
		}
	}
	if imports < 4 {
		t.Fatalf("found %d imports, want at least the page's and the library's", imports)
	}
}
