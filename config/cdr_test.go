package config

import (
	"path/filepath"
	"testing"
)

// TestCDR: the record file is off by default with fsync per batch; a file
// in a missing directory, an unknown fsync policy and a spool bound out
// of range are refused with their field paths.
func TestCDR(t *testing.T) {
	dir := t.TempDir()
	checkSectionCases(t, afterBase, []sectionCase[CDRConfig]{
		{name: "default", want: CDRConfig{Fsync: FsyncBatch, SpoolMaxMB: 256, Postgres: PostgresConfig{Table: "webtrunk_cdr"}}},
		{name: "file", yaml: "cdr:\n  file: " + filepath.Join(dir, "cdr.jsonl") + "\n  fsync: \"off\"\n  spool_dir: " + dir + "\n  spool_max_mb: 1\n",
			want: CDRConfig{File: filepath.Join(dir, "cdr.jsonl"), Fsync: FsyncOff, SpoolDir: dir, SpoolMaxMB: 1, Postgres: PostgresConfig{Table: "webtrunk_cdr"}}},
		{name: "postgres without spool", yaml: "cdr:\n  postgres: {dsn: \"postgres://x@127.0.0.1/db\"}\n", wantError: "cdr.spool_dir: required with cdr.postgres.dsn"},
		{name: "table", yaml: "cdr:\n  postgres: {table: \"Drop Table\"}\n", wantError: "cdr.postgres.table"},
		{name: "missing directory", yaml: "cdr:\n  file: " + filepath.Join(dir, "nope", "cdr.jsonl") + "\n", wantError: "cdr.file: directory"},
		{name: "spool is a file", yaml: "cdr:\n  spool_dir: " + filepath.Join(dir, "..", filepath.Base(dir)) + "/x\n", wantError: "cdr.spool_dir"},
		{name: "fsync", yaml: "cdr:\n  fsync: always\n", wantError: "cdr.fsync"},
		{name: "spool bound", yaml: "cdr:\n  spool_max_mb: 0\n", wantError: "cdr.spool_max_mb: must be from 1"},
	}, func(c *Config) CDRConfig { return c.CDR })
}
