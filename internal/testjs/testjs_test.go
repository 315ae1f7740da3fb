package testjs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDirIsTheRepositorysTestJS checks that Dir finds test/js from this
// package's folder, with its package.json.
func TestDirIsTheRepositorysTestJS(t *testing.T) {
	t.Parallel()
	dir := Dir(t)
	if !filepath.IsAbs(dir) {
		t.Errorf("Dir %q, want an absolute path", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Errorf("Dir %q has no package.json: %v", dir, err)
	}
}

// TestBinOfAnInstalledPackage checks that Bin names a command that
// exists, for a package scripts/deps.sh installs.
func TestBinOfAnInstalledPackage(t *testing.T) {
	t.Parallel()
	bin := Bin(t, "esbuild", "esbuild")
	if _, err := os.Stat(bin); err != nil {
		t.Errorf("Bin %q: %v", bin, err)
	}
}
