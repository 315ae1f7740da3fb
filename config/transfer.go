package config

// TransferMode is whether the browser's blind transfers of a trunk's calls
// are sent to the trunk (Trunk.Transfer).
type TransferMode string

const (
	// TransferOff refuses the browser's transfers of the trunk's calls
	// (protocol code transfer_not_allowed); nothing is sent to the trunk.
	// It is the default.
	TransferOff TransferMode = "off"
	// TransferRefer sends the browser's transfer to the trunk as a REFER
	// inside the call's dialog (RFC 3515) whose Refer-To is the target in
	// the trunk's number format, and follows the trunk's NOTIFYs.
	TransferRefer TransferMode = "refer"
)

// Refers reports whether the browser's transfers of the trunk's calls go to
// the trunk as REFER (transfer: refer).
func (t *Trunk) Refers() bool { return t.Transfer == TransferRefer }

// validateTransfer reports the problem of a trunk's transfer setting under
// path. "" is left by a configuration built in code: off.
func validateTransfer(p *problems, path string, t *Trunk) {
	if t.Transfer != "" {
		checkOneOf(p, path+".transfer", t.Transfer, TransferOff, TransferRefer)
	}
}
