package sip

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine is left running
// after them: every socket reader and timer of a call must end with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
