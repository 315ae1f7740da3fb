package browserleg

import "errors"

// Internal failures of setting up a PeerConnection.
var (
	errGatherTimeout      = errors.New("browserleg: ice gathering timed out")
	errNoLocalDescription = errors.New("browserleg: no local description")
)
