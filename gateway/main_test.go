package gateway

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// call, connection, media loop and socket reader must end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
