package transcode

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: the
// transcoders own none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
