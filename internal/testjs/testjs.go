// Package testjs finds the test-only npm packages of the repository's
// test/js folder (installed by `scripts/deps.sh test`, never shipped with
// the gateway) and the Node.js that runs them, for tests that run
// JavaScript tools: it fails the test loudly, saying what to install, when
// either is missing, rather than skipping it. It is imported only by tests.
package testjs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// errNoModule is a working directory outside the module.
var errNoModule = errors.New("testjs: no go.mod above the working directory")

// Dir returns the absolute path of test/js, found from the test's working
// directory (its package's folder) up to the module root.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("testjs: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "test", "js")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal(errNoModule)
		}
		dir = parent
	}
}

// Require fails the test unless node is on the PATH and each npm package
// of pkgs is installed in test/js; it returns the absolute path of
// test/js.
func Require(tb testing.TB, pkgs ...string) string {
	tb.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		tb.Fatalf("node not found: install the Debian package nodejs (scripts/deps.sh test): %v", err)
	}
	dir := Dir(tb)
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
			tb.Fatalf("npm package %s is not installed in test/js: run scripts/deps.sh test (%v)", pkg, err)
		}
	}

	return dir
}

// Bin returns the absolute path of the command name that npm package pkg
// installs in test/js/node_modules/.bin, after Require(tb, pkg).
func Bin(tb testing.TB, pkg, name string) string {
	tb.Helper()

	return filepath.Join(Require(tb, pkg), "node_modules", ".bin", name)
}
