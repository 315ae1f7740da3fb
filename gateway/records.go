package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/webhook"
)

// postgresStartTimeout bounds creating the record table at start.
const postgresStartTimeout = 5 * time.Second

// openRecords opens the call record file and spools of the cdr section
// (none when it names neither); it runs in Listen.
func (g *Gateway) openRecords() error {
	c := g.cfg.CDR
	if c.File == "" && c.Postgres.DSN.IsZero() {
		return nil
	}
	var sinks []cdr.Sink
	if !c.Postgres.DSN.IsZero() {
		pg, err := cdr.NewPostgres(c.Postgres.DSN.Reveal(), c.Postgres.Table)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), postgresStartTimeout)
		if err := pg.EnsureSchema(ctx); err != nil {
			// Records wait in the spool until the server answers.
			g.log.Warn("call record database not reachable at start; records are spooled", "error", err)
		}
		cancel()
		sinks = append(sinks, pg)
	}
	rec, err := cdr.New(cdr.Options{
		File: c.File, Sync: c.Fsync == "batch", SpoolDir: c.SpoolDir, SpoolMaxBytes: c.SpoolMaxBytes(),
		Sinks: sinks, Logger: g.log.With("component", "cdr"),
	})
	if err != nil {
		for _, s := range sinks {
			_ = s.Close()
		}

		return err
	}
	g.records = rec

	return nil
}

// ReopenRecords closes and reopens the call record file before the next
// record is written, so that logrotate may move it away (SIGHUP).
func (g *Gateway) ReopenRecords() {
	if g.records != nil {
		g.records.Reopen()
	}
}

// writeRecord hands a call's record to the recorder.
func (g *Gateway) writeRecord(r cdr.Record) {
	r.RecordID = randomHex(16)
	if g.records != nil {
		g.records.Record(r)
	}
	g.publish(webhook.CallEnded, r)
}

// sessionRecord is the call's record, built from the same facts as its
// log line: the session has ended (finish), cause is its end and end
// when it ended.
func (s *session) sessionRecord(cause *endError, end time.Time) cdr.Record {
	up, down, trunkQuality := s.mediaRecords()
	s.mu.Lock()
	answered, ringAt, codecs, sipCallID := s.answeredAt, s.ringAt, s.codecs, s.sipCallID
	attempts := make([]string, len(s.attempts))
	for i, a := range s.attempts {
		attempts[i] = a.String()
	}
	s.mu.Unlock()
	r := cdr.Record{
		ID: s.id, SIPCallID: sipCallID, Direction: s.dir, User: s.user.UserID,
		FromDialled: s.fromDialled, ToDialled: s.toDialled, From: s.from, To: s.to, Trunk: s.trunk,
		Start: cdr.At(s.epoch), Ring: cdr.At(ringAt), Answer: cdr.At(answered), End: cdr.At(end),
		Reason: string(cause.Reason), SIPCode: cause.SIPCode, SIPReason: cause.SIPText, Codecs: codecs,
		Uplink: up, Downlink: down, TrunkQuality: trunkQuality,
		Attempts: strings.Join(attempts, " "),
	}
	if s.conn != nil && s.conn.remote.IsValid() {
		r.BrowserAddr = s.conn.remote.String()
	}
	r.BillableSeconds = cdr.Billable(r.Answer.Time, r.End.Time)

	return r
}

// recordRefusedDial writes the record of a dial refused before a session
// took it (dial rules, limits, capacity, a bad offer, ...): start and end
// are the dial's arrival and refusal.
func (c *wsConn) recordRefusedDial(id auth.Identity, m signaling.Dial, start time.Time, err error) {
	var ce *callError
	code := signaling.CodeInternal
	if errors.As(err, &ce) {
		code = ce.Code
	}
	if code == signaling.CodeOutOfOrder {
		return // a call id in use: no call was attempted
	}
	r := cdr.Record{
		ID: m.ID, Direction: cdr.Outbound, User: id.UserID, FromDialled: id.CallerID, ToDialled: m.To,
		Start: cdr.At(start), End: cdr.At(time.Now()), Reason: string(code),
	}
	if c.remote.IsValid() {
		r.BrowserAddr = c.remote.String()
	}
	c.g.writeRecord(r)
	c.g.publish(webhook.DialDenied, r)
}

// recordRefusedInbound writes the record of an inbound INVITE refused
// before any browser rang (no route, nobody online, busy, capacity,
// shutdown, a limit).
func (g *Gateway) recordRefusedInbound(sipCallID, from, to, trunk, user string, start time.Time, code int, text, reason string) {
	g.writeRecord(cdr.Record{
		ID: "in-" + randomHex(8), SIPCallID: sipCallID, Direction: cdr.Inbound, User: user,
		FromDialled: from, ToDialled: to, From: from, To: to, Trunk: trunk,
		Start: cdr.At(start), End: cdr.At(time.Now()), Reason: reason, SIPCode: code, SIPReason: text,
	})
}

// ringingRecord is the record of an inbound call that rang but was never
// accepted (cancelled, rejected, timed out).
func (in *inboundCall) ringingRecord(cause *endError, code int, text string) cdr.Record {
	r := cdr.Record{
		ID: in.id, SIPCallID: in.ic.CallID(), Direction: cdr.Inbound, User: in.user,
		FromDialled: in.ic.From(), ToDialled: in.ic.To(), From: in.ic.From(), To: in.ic.To(), Trunk: in.ic.Trunk(),
		Start: cdr.At(in.start), Ring: cdr.At(in.ringAt), End: cdr.At(time.Now()),
		Reason: string(cause.Reason), SIPCode: cause.SIPCode, SIPReason: cause.SIPText,
	}
	if r.SIPCode == 0 && code != 0 {
		r.SIPCode, r.SIPReason = code, text
	}

	return r
}
