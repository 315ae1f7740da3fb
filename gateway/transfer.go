package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// Blind transfer from the browser (docs/protocol.md, "transfer"): a
// transfer message names a connected call and a number; the number is
// checked as a dial's is (numbering plan and route, the user's dial rules,
// the dial authorisation hook, the user's limits), because the trunk will
// place a call to it for us: a transfer is a dial. The call's trunk must
// have transfer: refer. The gateway then sends the trunk a REFER in the
// call's dialog (sip.Call.Transfer, RFC 3515) and follows its NOTIFYs: a
// 2xx sipfrag ends the call with reason transferred (BYE unless the trunk
// sent one), a failure is reported to the browser as transfer_failed and
// the call goes on. A trunk with transfer: bridge takes no REFER: the
// gateway places the new call itself (transferbridge.go).

// referTimeout bounds waiting for the trunk's final response to a REFER.
const referTimeout = 32 * time.Second

// errTransferDone is the cause of a call the trunk transferred.
var errTransferDone = errors.New("gateway: the call was transferred")

// errTransferred ends a call whose blind transfer succeeded.
var errTransferred = &endError{Reason: signaling.ReasonTransferred, Err: errTransferDone}

// Outcomes of webtrunk_transfers_total.
const (
	transferRefused   = "refused"   // the gateway's checks refused it; nothing sent
	transferRejected  = "rejected"  // the trunk refused the REFER or did not answer it
	transferFailed    = "failed"    // a NOTIFY reported the target failed
	transferSucceeded = "succeeded" // a NOTIFY reported success
)

// transferState is a session's transfer towards its trunk: one at a time,
// and the ref of the transfer message, echoed in a later failure.
type transferState struct {
	mu      sync.Mutex
	pending bool
	ref     string
}

// begin marks a transfer with ref in progress; false when one already is.
func (t *transferState) begin(ref string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending {
		return false
	}
	t.pending, t.ref = true, ref

	return true
}

// finish ends the transfer in progress and returns its ref.
func (t *transferState) finish() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = false

	return t.ref
}

// errTransferOff answers a transfer of a call whose trunk takes none.
var errTransferOff = &callError{Code: signaling.CodeTransferNotAllowed,
	Msg: "the call's trunk does not take transfers"}

// errTransferPending answers a transfer while one of the call is in progress.
var errTransferPending = &callError{Code: signaling.CodeOutOfOrder,
	Msg: "a transfer of the call is in progress"}

// transfer handles a transfer message: every check is made before
// anything reaches the trunk, and a refusal leaves the call as it was.
func (c *wsConn) transfer(id auth.Identity, m signaling.Transfer) error {
	s, err := c.connected(m.CallID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	call := s.call
	s.mu.Unlock()
	if call == nil {
		return &callError{Code: signaling.CodeOutOfOrder, Msg: "the call is not connected"}
	}
	if err := c.authorizeTransfer(s, call, id, m); err != nil {
		c.g.metrics.Transfers.WithLabelValues(transferRefused).Inc()
		s.logger().Info("transfer refused", "to", m.To, "error", err)

		return err
	}

	return nil
}

// authorizeTransfer checks a transfer of call as a dial of m.To by the
// user, and when it passes starts it.
func (c *wsConn) authorizeTransfer(s *session, call *sip.Call, id auth.Identity, m signaling.Transfer) error {
	t, ok := s.pol.cfg.Trunk(call.Trunk())
	if !ok || !t.Refers() && !t.Bridges() {
		return errTransferOff
	}
	if s.referring.Load() {
		return errTransferPending
	}
	rt, from, err := c.checkTransferTarget(s, id, m.To)
	if err != nil {
		return err
	}
	if !s.xfer.begin(m.Ref) {
		return errTransferPending
	}
	s.logger().Info("transferring", "to", rt.E164, "trunk", call.Trunk(), "mode", string(t.Transfer))
	if t.Bridges() {
		s.startBridgeTransfer(rt, from)

		return nil
	}
	go s.runTransfer(call, rt.E164)

	return nil
}

// runTransfer sends the REFER and reports a refusal; the trunk's NOTIFYs
// arrive as sip.EventTransfer (transferProgress).
func (s *session) runTransfer(call *sip.Call, e164 string) {
	ctx, cancel := context.WithTimeout(s.ctx, referTimeout)
	err := call.Transfer(ctx, e164)
	cancel()
	if err == nil {
		return
	}
	ref := s.xfer.finish()
	if s.ctx.Err() != nil {
		return
	}
	s.g.metrics.Transfers.WithLabelValues(transferRejected).Inc()
	s.logger().Info("transfer refused by the trunk", "to", e164, "error", err)
	msg := "the trunk did not take the transfer"
	var se *sip.StatusError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("the trunk refused the transfer: %d %s", se.Code, se.Reason)
	}
	s.conn.send(signaling.ErrorReply{Code: signaling.CodeTransferFailed, Message: msg, CallID: s.id, Ref: ref})
}

// transferProgress follows a NOTIFY of the trunk about the transfer: 1xx
// is logged, a 2xx ends the call with reason transferred, a failure is
// reported to the browser and the call goes on.
func (s *session) transferProgress(ev sip.DialogEvent) {
	status := strconv.Itoa(ev.TransferStatus) + " " + ev.TransferReason
	if !ev.TransferFinal {
		s.logger().Info("transfer progress", "status", status)

		return
	}
	ref := s.xfer.finish()
	if ev.TransferStatus >= 200 && ev.TransferStatus < 300 {
		s.g.metrics.Transfers.WithLabelValues(transferSucceeded).Inc()
		s.logger().Info("transfer succeeded", "status", status)
		s.end(errTransferred)

		return
	}
	s.g.metrics.Transfers.WithLabelValues(transferFailed).Inc()
	s.logger().Info("transfer failed", "status", status)
	s.conn.send(signaling.ErrorReply{Code: signaling.CodeTransferFailed,
		Message: "the transfer target answered " + status, CallID: s.id, Ref: ref})
}

// trunkEnded is the cause of a call the trunk ended: transferred when the
// trunk reported a transfer of it succeeded before its BYE.
func trunkEnded(call *sip.Call) error {
	if call.Transferred() {
		return errTransferred
	}

	return call.Err()
}
