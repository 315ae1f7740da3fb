package gateway

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/pgtest"
)

// pgRow is what the test reads back of a record in PostgreSQL.
type pgRow struct {
	start, end            time.Time
	ring, answer          *time.Time
	billable              int64
	reason, to, direction string
}

// waitRow waits until the table holds the record of call id and returns
// it.
func waitRow(t *testing.T, dsn, id string) pgRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lastErr error
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			var r pgRow
			err = conn.QueryRow(ctx, `SELECT start_time, ring_time, answer_time, end_time, billable_seconds, reason, to_number, direction
				FROM webtrunk_cdr WHERE call_id = $1`, id).Scan(&r.start, &r.ring, &r.answer, &r.end, &r.billable, &r.reason, &r.to, &r.direction)
			_ = conn.Close(ctx)
			if err == nil {
				return r
			}
		}
		lastErr = err
		if !errors.Is(err, pgx.ErrNoRows) && err != nil {
			t.Logf("query: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no record of %s in PostgreSQL after 30 s: %v", id, lastErr)

	return pgRow{}
}

// spooled reads webtrunk_cdr_spooled of the postgres sink.
func spooled(t *testing.T, e *env) int {
	t.Helper()
	_, metrics := adminGet(t, e, "/metrics")
	m := regexp.MustCompile(`webtrunk_cdr_spooled\{sink="postgres"\} (\d+)`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatal("no webtrunk_cdr_spooled for postgres")
	}
	n, _ := strconv.Atoi(m[1])

	return n
}

// TestCallRecordPostgres: with a real PostgreSQL 15 server, a call's
// record lands in the table the gateway created, with the times the test
// observed (within 50 ms); while the server is down the next record waits
// in the spool (counted) and arrives once the server is back.
func TestCallRecordPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	dir := t.TempDir()
	extra := "cdr:\n  file: " + filepath.Join(dir, "cdr.jsonl") + "\n  spool_dir: " + dir + "\n  postgres:\n    dsn: \"" + pg.DSN() + "\"\n"
	e := newEnv(t, testConfig{extra: extra}, faketrunk.WithPlan(faketrunk.Plan{Ring: 300 * time.Millisecond}))
	b := login(t, e, "alice")

	obs := observedCall(t, e, b, "c1", "+15550123")
	row := waitRow(t, pg.DSN(), "c1")
	if row.ring == nil || row.answer == nil {
		t.Fatalf("row %+v lacks ring or answer", row)
	}
	for _, c := range []struct {
		what      string
		got, want time.Time
	}{{"start", row.start, obs.start}, {"ring", *row.ring, obs.ring}, {"answer", *row.answer, obs.answer}, {"end", row.end, obs.end}} {
		near(t, c.what, cdr.At(c.got), c.want)
	}
	if row.reason != "local_hangup" || row.to != "+15550123" || row.direction != "outbound" || row.billable < 1 {
		t.Errorf("row %+v", row)
	}

	pg.Stop()
	observedCall(t, e, b, "c2", "+15550124")
	deadline := time.Now().Add(10 * time.Second)
	for spooled(t, e) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the record of c2 is not spooled while the server is down (spooled %d)", spooled(t, e))
		}
		time.Sleep(20 * time.Millisecond)
	}
	pg.Start()
	if row := waitRow(t, pg.DSN(), "c2"); row.to != "+15550124" {
		t.Errorf("row of c2 %+v", row)
	}
	deadline = time.Now().Add(10 * time.Second)
	for spooled(t, e) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the spool did not empty")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
