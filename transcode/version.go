package transcode

import "github.com/hraban/opus"

// OpusVersion returns the version string of the libopus the binary is
// linked with (opus_get_version_string), for example "libopus 1.3.1".
func OpusVersion() string { return opus.Version() }
