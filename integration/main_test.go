package integration

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when any goroutine outlives the tests: every
// call, socket reader and timer of the gateway and of the fakes must end
// with the test that started it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
