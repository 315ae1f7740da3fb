package cdr

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webtrunk/webtrunk/internal/pgtest"
)

// TestEstimateMOSRTT: the round trip adds half of itself to the one-way
// delay; without one the estimate is EstimateMOS's, and past the G.107
// knee of 177.3 ms the score falls faster.
func TestEstimateMOSRTT(t *testing.T) {
	tests := []struct {
		rtt      time.Duration
		min, max float64
	}{
		{0, 4.35, 4.45},
		{100 * time.Millisecond, 4.3, 4.42},
		{400 * time.Millisecond, 3.9, 4.25},
		{800 * time.Millisecond, 2.5, 3.7},
	}
	prev := 5.0
	for _, tc := range tests {
		got := EstimateMOSRTT(0, 5*time.Millisecond, tc.rtt)
		if got < tc.min || got > tc.max || got > prev {
			t.Errorf("EstimateMOSRTT(0, 5ms, %v) = %v, want %v..%v and not above %v", tc.rtt, got, tc.min, tc.max, prev)
		}
		prev = got
	}
	if a, b := EstimateMOSRTT(0.03, 10*time.Millisecond, 0), EstimateMOS(0.03, 10*time.Millisecond); a != b {
		t.Errorf("without a round trip %v, EstimateMOS %v", a, b)
	}
	m := NewMediaRTT(100, 5, 10*time.Millisecond, 200*time.Millisecond, 7, 2)
	if m.Reordered != 7 || m.Late != 2 || m.MOS != EstimateMOSRTT(5.0/105, 10*time.Millisecond, 200*time.Millisecond) {
		t.Errorf("NewMediaRTT %+v", m)
	}
}

// TestRecordQualityJSON: the trunk's figures are absent without a report
// and present with one; the jitter buffer's counts only when not zero.
func TestRecordQualityJSON(t *testing.T) {
	r := Record{RecordID: "r", ID: "c1", Uplink: Media{Packets: 10}}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "trunk_quality") || strings.Contains(string(b), "reordered") {
		t.Errorf("%s has quality figures it did not measure", b)
	}
	r.TrunkQuality = &TrunkQuality{RTTMS: 12.5, Lost: 3, JitterMS: 4}
	r.Uplink.Reordered, r.Uplink.Late = 4, 1
	b, _ = json.Marshal(r)
	for _, want := range []string{`"trunk_quality":{"rtt_ms":12.5,"lost":3,"jitter_ms":4,"mos":0}`, `"reordered":4`, `"late":1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

// TestPostgresQualityColumns: a table created before the quality columns
// gains them, and a record's figures land in them (NULL for the trunk's
// without a report).
func TestPostgresQualityColumns(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	// The table as an earlier version created it.
	if _, err := conn.Exec(ctx, `CREATE TABLE quality_cdr (record_id text PRIMARY KEY, call_id text NOT NULL,
		sip_call_id text, direction text NOT NULL, user_id text, from_dialled text, to_dialled text, from_number text,
		to_number text, trunk text, start_time timestamptz NOT NULL, ring_time timestamptz, answer_time timestamptz,
		end_time timestamptz NOT NULL, billable_seconds bigint NOT NULL, reason text NOT NULL, sip_code integer,
		sip_reason text, codecs text, uplink_packets bigint NOT NULL, uplink_lost bigint NOT NULL,
		uplink_jitter_ms double precision NOT NULL, uplink_mos double precision NOT NULL, downlink_packets bigint NOT NULL,
		downlink_lost bigint NOT NULL, downlink_jitter_ms double precision NOT NULL, downlink_mos double precision NOT NULL,
		browser_addr text)`); err != nil {
		t.Fatal(err)
	}
	p, err := NewPostgres(pg.DSN(), "quality_cdr")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	now := At(time.Now())
	recs := []Record{
		{RecordID: "a", ID: "c1", Direction: Outbound, Start: now, End: now, Reason: "local_hangup",
			Uplink: Media{Packets: 100, MOS: 4.1, Reordered: 6, Late: 1}, TrunkQuality: &TrunkQuality{RTTMS: 21.5, Lost: 2, JitterMS: 3.25, MOS: 4.3}},
		{RecordID: "b", ID: "c2", Direction: Outbound, Start: now, End: now, Reason: "busy"},
	}
	if err := p.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var reordered, late, lost *int64
	var rtt, jitter, mos *float64
	if err := conn.QueryRow(ctx, `SELECT uplink_reordered, uplink_late, trunk_rtt_ms, trunk_lost, trunk_jitter_ms, trunk_mos FROM quality_cdr WHERE call_id = 'c1'`).
		Scan(&reordered, &late, &rtt, &lost, &jitter, &mos); err != nil {
		t.Fatal(err)
	}
	if reordered == nil || *reordered != 6 || late == nil || *late != 1 || rtt == nil || *rtt != 21.5 || lost == nil || *lost != 2 || jitter == nil || *jitter != 3.25 ||
		mos == nil || *mos != 4.3 {
		t.Errorf("c1: reordered %v late %v rtt %v lost %v jitter %v mos %v", reordered, late, rtt, lost, jitter, mos)
	}
	if err := conn.QueryRow(ctx, `SELECT trunk_rtt_ms FROM quality_cdr WHERE call_id = 'c2'`).Scan(&rtt); err != nil || rtt != nil {
		t.Errorf("c2: trunk_rtt_ms %v (%v), want NULL", rtt, err)
	}
}
