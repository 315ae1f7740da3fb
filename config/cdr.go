package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Call record fsync policies (CDRConfig.Fsync).
const (
	// FsyncBatch syncs the record file after each batch of records.
	FsyncBatch = "batch"
	// FsyncOff leaves writing back to the operating system.
	FsyncOff = "off"
)

// CDRConfig is where call detail records go: one record per call,
// outbound or inbound, answered, refused or failed (README, "Operators";
// the fields are those of gateway/cdr.Record).
type CDRConfig struct {
	// File is the JSON Lines file the records are appended to, one JSON
	// object per line (created with mode 0640; reopened on SIGHUP, so
	// that logrotate can move it away). Empty writes no file.
	// Default empty.
	File string `yaml:"file"`
	// Fsync is "batch": the file is synced (fsync) after each batch of
	// records appended together, so that a record is on disk at most the
	// time of one write after its call ended, even if the machine loses
	// power; or "off": the operating system writes it back, which a crash
	// of the process survives but not a power failure. Default "batch".
	Fsync string `yaml:"fsync"`
	// SpoolDir is the directory of the spools of records waiting for a
	// sink that is slow or down (PostgreSQL), one file per sink; it must
	// exist. Required with a sink. Default empty.
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxMB bounds each sink's spool, in MiB (about 1 KiB per
	// record): a record that does not fit is not handed to that sink (it
	// is still in File) and is counted. From 1 to 1048576. Default 256.
	SpoolMaxMB int `yaml:"spool_max_mb"`
	// Postgres, when its DSN is set, also stores every record in a
	// PostgreSQL table, created on start when missing, through the spool
	// (a server that is slow or down loses no record).
	Postgres PostgresConfig `yaml:"postgres"`
}

// PostgresConfig is the PostgreSQL record sink.
type PostgresConfig struct {
	// DSN is the server's connection string, a postgres:// URL or libpq
	// key=value pairs; typically "${WEBTRUNK_CDR_DSN}". Empty: no sink.
	// Default empty.
	DSN Secret `yaml:"dsn"`
	// Table is the table's name: a lowercase letter or "_", then up to 62
	// lowercase letters, digits and "_". Default "webtrunk_cdr".
	Table string `yaml:"table"`
}

// SpoolMaxBytes is SpoolMaxMB in bytes.
func (c CDRConfig) SpoolMaxBytes() int64 { return int64(c.SpoolMaxMB) << 20 }

// CDRDefault returns the defaults of the cdr section.
func CDRDefault() CDRConfig {
	return CDRConfig{Fsync: FsyncBatch, SpoolMaxMB: 256, Postgres: PostgresConfig{Table: "webtrunk_cdr"}}
}

// tableName is the form of cdr.postgres.table.
var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// validateCDR checks the cdr section.
func (c *Config) validateCDR(p *problems) {
	r := &c.CDR
	checkOneOf(p, "cdr.fsync", r.Fsync, FsyncBatch, FsyncOff)
	checkIntRange(p, "cdr.spool_max_mb", r.SpoolMaxMB, 1, 1<<20)
	if r.File != "" {
		checkWritableDir(p, "cdr.file", parentDir(r.File))
	}
	if r.SpoolDir != "" {
		checkWritableDir(p, "cdr.spool_dir", r.SpoolDir)
	}
	if !tableName.MatchString(r.Postgres.Table) {
		p.add("cdr.postgres.table", "must be a lowercase letter or _, then up to 62 lowercase letters, digits or _")
	}
	if !r.Postgres.DSN.IsZero() && r.SpoolDir == "" {
		p.add("cdr.spool_dir", "required with cdr.postgres.dsn: records wait there while the server is slow or down")
	}
}

// parentDir is the directory a file path is in.
func parentDir(file string) string { return filepath.Dir(file) }

// checkWritableDir checks that dir is an existing directory.
func checkWritableDir(p *problems, path, dir string) {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		p.add(path, fmt.Sprintf("directory %q: %v", dir, errors.Unwrap(err)))
	case !st.IsDir():
		p.add(path, fmt.Sprintf("%q is not a directory", dir))
	}
}
