package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: -version prints the release, the commit, the Go version
// and platform, and the linked libopus, and exits 0.
func TestVersion(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"-version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^webtrunk gateway \S+$`),
		regexp.MustCompile(`(?m)^commit: \S+`),
		regexp.MustCompile(`(?m)^go: ` + regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + `$`),
		regexp.MustCompile(`(?m)^opus: libopus \d+\.\d+`),
	} {
		if !want.MatchString(out) {
			t.Errorf("-version output lacks %v:\n%s", want, out)
		}
	}
}

// TestHealthcheck: -healthcheck exits 0 for 200 OK and 1 for any other
// status or an unreachable address, saying why.
func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			_, _ = w.Write([]byte("ready\n"))

			return
		}
		http.Error(w, "draining", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	tests := []struct {
		url  string
		code int
		says string
	}{
		{srv.URL + "/readyz", 0, ""},
		{srv.URL + "/draining", 1, "503"},
		{"http://127.0.0.1:1/readyz", 1, "refused"},
	}
	for _, tt := range tests {
		var stdout, stderr strings.Builder
		if code := run(context.Background(), []string{"-healthcheck", tt.url}, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.says) {
			t.Errorf("-healthcheck %s: exit code %d, stderr %q; want %d and %q", tt.url, code, stderr.String(), tt.code, tt.says)
		}
	}
}
