package testproc

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/logcapture"
)

// TestProc runs sh as the program: a ready line is awaited, a program that
// exits shows its status, and one still running is stopped at Stop.
func TestProc(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		await    bool // AwaitLine for "ready" before Stop, else wait for the end
		wantCode int  // after Stop
	}{
		{"ready then runs until stopped", "echo ready; exec sleep 60", true, -1},
		{"exits with a status", "exit 3", false, 3},
		{"exits successfully", "echo done", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := logcapture.NewWriter(t)
			ctx, cancel := context.WithCancel(context.Background())
			cmd := exec.CommandContext(ctx, "sh", "-c", tc.script)
			cmd.Stdout, cmd.Stderr = out, out
			p := Start(t, "sh", cmd, cancel)
			if tc.await {
				p.AwaitLine(t, out, "ready", time.Minute)
				select {
				case <-p.Done():
					t.Fatal("the program ended before Stop")
				default:
				}
			} else {
				select {
				case <-p.Done():
				case <-time.After(time.Minute):
					t.Fatal("the program did not end by itself")
				}
			}
			p.Stop()
			p.Stop()
			if got := p.ExitCode(); got != tc.wantCode {
				t.Errorf("exit code %d, want %d (%v)", got, tc.wantCode, p.Err())
			}
			var exit *exec.ExitError
			if (p.Err() == nil) != (tc.wantCode == 0) || (p.Err() != nil && !errors.As(p.Err(), &exit)) {
				t.Errorf("Err() = %v for exit code %d", p.Err(), tc.wantCode)
			}
		})
	}
}
