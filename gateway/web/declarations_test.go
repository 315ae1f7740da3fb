package web

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/testjs"
)

// The TypeScript declarations of the library and the test-only example
// that uses them (test/js/types), checked with npm typescript installed
// in test/js by scripts/deps.sh.
const (
	declarationsFile = "webtrunk.d.ts"
	typesProject     = "../../test/js/types/tsconfig.json"
)

// TestDeclarationsCompile runs `tsc --noEmit` on an example that uses the
// whole public API through webtrunk.d.ts.
func TestDeclarationsCompile(t *testing.T) {
	tsc := filepath.Join(testjs.Require(t, "typescript"), "node_modules", "typescript", "bin", "tsc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", tsc, "--noEmit", "-p", typesProject).CombinedOutput()
	if err != nil {
		t.Fatalf("tsc --noEmit -p %s: %v\n%s", typesProject, err, out)
	}
}

// TestDeclarationsCoverTheLibrary checks that webtrunk.d.ts declares every
// export of webtrunk.js, every error code of webtrunk-core.js with its
// value, and every public method and property of Device and Call.
func TestDeclarationsCoverTheLibrary(t *testing.T) {
	dts := string(readFile(t, declarationsFile))
	lib := string(embedded(t, "webtrunk.js"))

	var exports []string
	for _, m := range regexp.MustCompile(`(?s)export \{([^}]*)\}`).FindAllStringSubmatch(lib, -1) {
		for name := range strings.SplitSeq(m[1], ",") {
			if name = strings.TrimSpace(name); name != "" {
				exports = append(exports, name)
			}
		}
	}
	for _, m := range regexp.MustCompile(`export (?:class|function|const) (\w+)`).FindAllStringSubmatch(lib, -1) {
		exports = append(exports, m[1])
	}
	if len(exports) < 10 {
		t.Fatalf("found %d exports in webtrunk.js: %v", len(exports), exports)
	}
	for _, name := range exports {
		if !regexp.MustCompile(`export (?:declare )?(?:class|function|const) ` + name + `\b`).MatchString(dts) {
			t.Errorf("webtrunk.js exports %s, which %s does not declare", name, declarationsFile)
		}
	}

	core := string(embedded(t, "webtrunk-core.js"))
	codes := regexp.MustCompile(`(?m)^  ([A-Z_]+): "([a-z_]+)",$`).FindAllStringSubmatch(core, -1)
	if len(codes) < 20 {
		t.Fatalf("found %d error codes in webtrunk-core.js", len(codes))
	}
	for _, c := range codes {
		if !strings.Contains(dts, "  "+c[1]+`: "`+c[2]+`";`) {
			t.Errorf("ErrorCode.%s = %q is not declared", c[1], c[2])
		}
	}

	for file, class := range map[string]string{"webtrunk.js": "Device", "webtrunk-call.js": "Call"} {
		src := string(embedded(t, file))
		start := strings.Index(src, "export class "+class+" ")
		end := strings.Index(src[start:], "\n}\n")
		if start < 0 || end < 0 {
			t.Fatalf("class %s not found in %s", class, file)
		}
		body := src[start : start+end]
		declStart := strings.Index(dts, "export declare class "+class+" ")
		declEnd := strings.Index(dts[declStart:], "\n}\n")
		if declStart < 0 || declEnd < 0 {
			t.Fatalf("class %s not declared", class)
		}
		decl := dts[declStart : declStart+declEnd]
		members := regexp.MustCompile(`(?m)^  (?:async )?(?:get )?([a-zA-Z]\w*)\(`).FindAllStringSubmatch(body, -1)
		for _, m := range members {
			if m[1] == "constructor" {
				continue
			}
			if !regexp.MustCompile(`(?m)^  (?:readonly )?` + m[1] + `[(:?]`).MatchString(decl) {
				t.Errorf("%s.%s is not declared", class, m[1])
			}
		}
	}
}

// readFile reads a file of this package's directory.
func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Clean(name))
	if err != nil {
		t.Fatal(err)
	}

	return b
}

// TestPackageJSON checks the repository's package.json, which lets a
// project install the library from the repository: its entry points exist,
// and it ships every module of the library and the declarations.
func TestPackageJSON(t *testing.T) {
	var pkg struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Main    string `json:"main"`
		Types   string `json:"types"`
		Exports map[string]struct {
			Types   string `json:"types"`
			Default string `json:"default"`
		} `json:"exports"`
		Files []string `json:"files"`
	}
	if err := json.Unmarshal(readFile(t, "../../package.json"), &pkg); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	root := pkg.Exports["."]
	if pkg.Name != "webtrunk" || pkg.Type != "module" || root.Default != pkg.Main || root.Types != pkg.Types {
		t.Errorf("package.json: name %q type %q main %q types %q exports %+v", pkg.Name, pkg.Type, pkg.Main, pkg.Types, root)
	}
	shipped := map[string]bool{}
	for _, f := range pkg.Files {
		shipped[f] = true
		if _, err := os.Stat(filepath.Join("../..", f)); err != nil {
			t.Errorf("package.json ships %s: %v", f, err)
		}
	}
	for _, f := range []string{root.Types, root.Default} {
		if !shipped[strings.TrimPrefix(f, "./")] {
			t.Errorf("package.json's entry point %s is not in its files", f)
		}
	}
	for route, name := range routes {
		if strings.HasPrefix(name, "webtrunk") && !shipped["gateway/web/"+name] {
			t.Errorf("package.json does not ship %s (served at %s)", name, route)
		}
	}
	if !shipped["gateway/web/"+declarationsFile] {
		t.Errorf("package.json does not ship %s", declarationsFile)
	}
}
