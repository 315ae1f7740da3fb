package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/webtrunk/webtrunk/transcode"
)

// version is the release of this binary, set at link time by make release
// (-ldflags "-X main.version=..."); "dev" for other builds.
var version = "dev"

// commit is the source revision of this binary, set at link time, or else
// taken from the version control information Go records in the build.
var commit = ""

// buildRevision returns the commit of the build and whether its working
// tree had changes ("" when unknown).
func buildRevision() (string, bool) {
	if commit != "" {
		return commit, false
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}

	return rev, dirty
}

// printVersion writes what -version reports: the release, the commit, the
// Go toolchain and platform, and the linked libopus.
func printVersion(w io.Writer) {
	rev, dirty := buildRevision()
	switch {
	case rev == "":
		rev = "unknown"
	case dirty:
		rev += " (modified)"
	}
	fmt.Fprintf(w, "webtrunk gateway %s\ncommit: %s\ngo: %s %s/%s\nopus: %s\n",
		version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH, transcode.OpusVersion())
}

// healthcheckTimeout bounds -healthcheck's request.
const healthcheckTimeout = 5 * time.Second

// healthcheck fetches url (the gateway's /readyz or /healthz) and returns
// the exit code of -healthcheck: 0 for 200 OK, 1 otherwise, with the reason
// on w. Container images use it for HEALTHCHECK, so they need no HTTP client
// of their own.
func healthcheck(ctx context.Context, url string, w io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(w, "healthcheck: %v\n", err)

		return 1
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(w, "healthcheck: %v\n", err)

		return 1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 256))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(w, "healthcheck: %s: %s %s", url, res.Status, body)

		return 1
	}

	return 0
}
