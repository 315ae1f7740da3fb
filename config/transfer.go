package config

// TransferMode is whether a trunk's calls may be transferred: the
// browser's blind transfers sent to the trunk, and the trunk's own REFERs
// carried out (Trunk.Transfer).
type TransferMode string

const (
	// TransferOff refuses the browser's transfers of the trunk's calls
	// (protocol code transfer_not_allowed; nothing is sent to the trunk)
	// and the trunk's REFERs (603 Decline). It is the default.
	TransferOff TransferMode = "off"
	// TransferRefer sends the browser's transfer to the trunk as a REFER
	// inside the call's dialog (RFC 3515) whose Refer-To is the target in
	// the trunk's number format, and follows the trunk's NOTIFYs; and it
	// carries out the trunk's REFER of a call: the gateway calls the
	// target on the trunk and moves the browser to it.
	TransferRefer TransferMode = "refer"
	// TransferBridge carries out the browser's transfer in the gateway,
	// for trunks that take no REFER: the gateway calls the target (routed
	// and checked as a dial of the user) and, once it answers, bridges the
	// call's party to it and lets the browser go; the gateway keeps both
	// calls until either party hangs up. The trunk's REFERs are refused
	// (603).
	TransferBridge TransferMode = "bridge"
)

// Refers reports whether the trunk's calls are transferred by REFER, the
// browser's and the trunk's own (transfer: refer).
func (t *Trunk) Refers() bool { return t.Transfer == TransferRefer }

// Bridges reports whether the browser's transfers of the trunk's calls are
// carried out by the gateway as a new call bridged to the call's party
// (transfer: bridge).
func (t *Trunk) Bridges() bool { return t.Transfer == TransferBridge }

// validateTransfer reports the problem of a trunk's transfer setting under
// path. "" is left by a configuration built in code: off.
func validateTransfer(p *problems, path string, t *Trunk) {
	if t.Transfer != "" {
		checkOneOf(p, path+".transfer", t.Transfer, TransferOff, TransferRefer, TransferBridge)
	}
}
