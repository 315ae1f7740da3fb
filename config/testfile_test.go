package config

import (
	"os"
	"path/filepath"
	"testing"
)

// writeTemp writes content to a new file in a test directory and returns
// its path.
func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
