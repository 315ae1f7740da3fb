package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/testjs"
)

// The packaging files at the root of the repository, and the tools that
// check them here (no container runtime runs on the test machines):
// dockerfile-utils from the test-only folder test/js (internal/testjs),
// and systemd-analyze.
const (
	dockerfilePath  = "../../Dockerfile"
	unitPath        = "../../deploy/webtrunk.service"
	systemdAnalyze  = "systemd-analyze"
	packagingBudget = 3 * time.Minute
)

// runtimePackages are the Debian packages of the image's runtime stage
// that may provide the binary's shared libraries, with libc6 from the
// base image.
var runtimePackages = map[string]bool{"libopus0": true, "libopusfile0": true, "libogg0": true, "libc6": true}

// buildLikeDockerfile builds the gateway with the command of the
// Dockerfile's build stage and returns the binary's path.
func buildLikeDockerfile(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "webtrunk-gateway")
	ctx, cancel := context.WithTimeout(context.Background(), packagingBudget)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}

	return out
}

// TestDockerfile lints the Dockerfile, checks that its runtime stage runs
// as an unprivileged user with a health check on /readyz, and that the
// binary its build stage makes links only libraries of the runtime stage's
// packages.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	dockerLint := testjs.Bin(t, "dockerfile-utils", "dockerfile-utils")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "node", dockerLint, "lint", dockerfilePath).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("dockerfile-utils lint: %v\n%s", err, out)
	}

	text := string(src)
	stages := regexp.MustCompile(`(?m)^FROM \S+ AS (\w+)$`).FindAllStringSubmatch(text, -1)
	if len(stages) != 2 || stages[0][1] != "build" || stages[1][1] != "runtime" {
		t.Fatalf("stages %v, want build then runtime", stages)
	}
	runtime := text[strings.Index(text, "AS runtime"):]
	for _, want := range []string{
		"\nUSER 10001:10001\n",
		`"-healthcheck", "http://127.0.0.1:8080/readyz"]`,
		"\nHEALTHCHECK ",
		"COPY --from=build /out/webtrunk-gateway /usr/local/bin/webtrunk-gateway",
	} {
		if !strings.Contains(runtime, want) {
			t.Errorf("the runtime stage lacks %q", want)
		}
	}
	install := regexp.MustCompile(`apt-get install -y --no-install-recommends ([^\\\n]+)`).FindStringSubmatch(runtime)
	if install == nil {
		t.Fatal("the runtime stage installs no packages")
	}
	installed := map[string]bool{}
	for _, p := range strings.Fields(install[1]) {
		installed[p] = true
		if !runtimePackages[p] && p != "ca-certificates" {
			t.Errorf("the runtime stage installs %s, which is no runtime library of the gateway", p)
		}
	}

	bin := buildLikeDockerfile(t)
	out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("ldd: %v\n%s", err, out)
	}
	libs := regexp.MustCompile(`=> (/\S+)`).FindAllStringSubmatch(string(out), -1)
	if len(libs) == 0 {
		t.Fatalf("ldd found no shared library (libopus is linked with cgo):\n%s", out)
	}
	for _, l := range libs {
		pkg := owningPackage(ctx, l[1])
		if !runtimePackages[pkg] || (pkg != "libc6" && !installed[pkg]) {
			t.Errorf("the binary links %s from package %q, which the runtime stage does not install", l[1], pkg)
		}
	}
}

// owningPackage returns the Debian package (without architecture) that
// installed the file path, trying its real path and the /usr-merged one.
func owningPackage(ctx context.Context, path string) string {
	candidates := []string{path}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		candidates = append(candidates, resolved)
	}
	for _, c := range candidates {
		candidates = append(candidates, strings.TrimPrefix(c, "/usr"), "/usr"+c)
	}
	for _, c := range candidates {
		out, err := exec.CommandContext(ctx, "dpkg", "-S", c).Output()
		if err != nil {
			continue
		}
		pkg, _, _ := strings.Cut(strings.TrimSpace(string(out)), ":")

		return pkg
	}

	return ""
}

// TestSystemdUnit checks deploy/webtrunk.service with systemd-analyze
// verify (pointed at a freshly built binary), and its hardening: a dynamic
// user, a read-only system, no capabilities unless commented in, and
// SIGHUP on reload.
func TestSystemdUnit(t *testing.T) {
	src, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(src)
	for _, want := range []string{
		"\nDynamicUser=yes\n", "\nProtectSystem=strict\n", "\nNoNewPrivileges=yes\n",
		"\nCapabilityBoundingSet=\n", "\nAmbientCapabilities=\n", "\nExecReload=/bin/kill -HUP $MAINPID\n",
		"\nExecStart=/usr/local/bin/webtrunk-gateway -config /etc/webtrunk/webtrunk.yaml\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	if _, err := exec.LookPath(systemdAnalyze); err != nil {
		t.Fatalf("systemd-analyze not found: install the Debian package systemd (scripts/deps.sh test): %v", err)
	}
	bin := buildLikeDockerfile(t)
	local := filepath.Join(t.TempDir(), "webtrunk.service")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(unit, "/usr/local/bin/webtrunk-gateway", bin)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, systemdAnalyze, "verify", local).CombinedOutput()
	// verify reports unknown keys and bad values on its output but exits 0.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
