package cdr

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is a Sink storing records in a PostgreSQL table, one row per
// record keyed by its RecordID (a record written twice is stored once).
// The table and its indexes are created when missing, at the first write
// that reaches the server.
type Postgres struct {
	pool   *pgxpool.Pool
	table  string // sanitised identifier
	name   string // plain table name, for index names
	schema bool   // the table is known to exist (only the delivery goroutine writes)
}

// NewPostgres prepares a sink for the server of dsn (a PostgreSQL URL or
// key=value string, as libpq takes) and table; it does not connect.
func NewPostgres(dsn, table string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("cdr: postgres dsn: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("cdr: postgres: %w", err)
	}

	return &Postgres{pool: pool, table: pgx.Identifier{table}.Sanitize(), name: table}, nil
}

// Name implements Sink.
func (p *Postgres) Name() string { return "postgres" }

// Close implements Sink.
func (p *Postgres) Close() error {
	p.pool.Close()

	return nil
}

// EnsureSchema creates the table and its indexes when missing.
func (p *Postgres) EnsureSchema(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + p.table + ` (
			record_id text PRIMARY KEY,
			call_id text NOT NULL,
			sip_call_id text,
			direction text NOT NULL,
			user_id text,
			from_dialled text,
			to_dialled text,
			from_number text,
			to_number text,
			trunk text,
			start_time timestamptz NOT NULL,
			ring_time timestamptz,
			answer_time timestamptz,
			end_time timestamptz NOT NULL,
			billable_seconds bigint NOT NULL,
			reason text NOT NULL,
			sip_code integer,
			sip_reason text,
			codecs text,
			uplink_packets bigint NOT NULL,
			uplink_lost bigint NOT NULL,
			uplink_jitter_ms double precision NOT NULL,
			uplink_mos double precision NOT NULL,
			downlink_packets bigint NOT NULL,
			downlink_lost bigint NOT NULL,
			downlink_jitter_ms double precision NOT NULL,
			downlink_mos double precision NOT NULL,
			browser_addr text,
			attempts text,
			uplink_reordered bigint,
			uplink_late bigint,
			trunk_rtt_ms double precision,
			trunk_lost bigint,
			trunk_jitter_ms double precision,
			trunk_mos double precision
		)`,
		`ALTER TABLE ` + p.table + ` ADD COLUMN IF NOT EXISTS attempts text`,
		`ALTER TABLE ` + p.table + ` ADD COLUMN IF NOT EXISTS uplink_reordered bigint`,
		`ALTER TABLE ` + p.table + ` ADD COLUMN IF NOT EXISTS uplink_late bigint`,
		`ALTER TABLE ` + p.table + ` ADD COLUMN IF NOT EXISTS trunk_rtt_ms double precision`,
		`ALTER TABLE ` + p.table + ` ADD COLUMN IF NOT EXISTS trunk_lost bigint`,
		`ALTER TABLE ` + p.table + ` ADD COLUMN IF NOT EXISTS trunk_jitter_ms double precision`,
		`ALTER TABLE ` + p.table + ` ADD COLUMN IF NOT EXISTS trunk_mos double precision`,
		`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{p.name + "_start"}.Sanitize() + ` ON ` + p.table + ` (start_time)`,
		`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{p.name + "_user_start"}.Sanitize() + ` ON ` + p.table + ` (user_id, start_time)`,
	}
	for _, s := range stmts {
		if _, err := p.pool.Exec(ctx, s); err != nil {
			return fmt.Errorf("cdr: postgres schema: %w", err)
		}
	}
	p.schema = true

	return nil
}

// Write implements Sink: the records in one transaction, each inserted
// unless its record_id is already stored.
func (p *Postgres) Write(ctx context.Context, recs []Record) error {
	if !p.schema {
		if err := p.EnsureSchema(ctx); err != nil {
			return err
		}
	}
	insert := `INSERT INTO ` + p.table + ` (record_id, call_id, sip_call_id, direction, user_id, from_dialled, to_dialled,
		from_number, to_number, trunk, start_time, ring_time, answer_time, end_time, billable_seconds, reason, sip_code,
		sip_reason, codecs, uplink_packets, uplink_lost, uplink_jitter_ms, uplink_mos, downlink_packets, downlink_lost,
		downlink_jitter_ms, downlink_mos, browser_addr, attempts, uplink_reordered, uplink_late, trunk_rtt_ms, trunk_lost,
		trunk_jitter_ms, trunk_mos)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,
		$30,$31,$32,$33,$34,$35)
		ON CONFLICT (record_id) DO NOTHING`
	var b pgx.Batch
	for i := range recs {
		r := &recs[i]
		b.Queue(insert, r.RecordID, r.ID, nullable(r.SIPCallID), r.Direction, nullable(r.User), nullable(r.FromDialled),
			nullable(r.ToDialled), nullable(r.From), nullable(r.To), nullable(r.Trunk), r.Start.Time, nullTime(r.Ring),
			nullTime(r.Answer), r.End.Time, r.BillableSeconds, r.Reason, nullCode(r.SIPCode), nullable(r.SIPReason),
			nullable(r.Codecs), int64(r.Uplink.Packets), int64(r.Uplink.Lost), r.Uplink.JitterMS, r.Uplink.MOS, //nolint:gosec // packet counts stay far below 2^63
			int64(r.Downlink.Packets), int64(r.Downlink.Lost), r.Downlink.JitterMS, r.Downlink.MOS, nullable(r.BrowserAddr), nullable(r.Attempts), //nolint:gosec // as above
			int64(r.Uplink.Reordered), int64(r.Uplink.Late), //nolint:gosec // as above
			trunkField(r.TrunkQuality, func(q *TrunkQuality) any { return q.RTTMS }),
			trunkField(r.TrunkQuality, func(q *TrunkQuality) any { return q.Lost }),
			trunkField(r.TrunkQuality, func(q *TrunkQuality) any { return q.JitterMS }),
			trunkField(r.TrunkQuality, func(q *TrunkQuality) any { return q.MOS }))
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("cdr: postgres: %w", err)
	}

	return nil
}

// trunkField is field of q, or NULL without q.
func trunkField(q *TrunkQuality, field func(*TrunkQuality) any) any {
	if q == nil {
		return nil
	}

	return field(q)
}

// nullable is s, or NULL when empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}

	return &s
}

// nullTime is t, or NULL when zero.
func nullTime(t Time) *time.Time {
	if t.IsZero() {
		return nil
	}

	return &t.Time
}

// nullCode is a SIP status code, or NULL when 0.
func nullCode(c int) *int {
	if c == 0 {
		return nil
	}

	return &c
}
