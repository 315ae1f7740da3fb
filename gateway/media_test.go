package gateway

import (
	"errors"
	"testing"

	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// TestTranscodersTakeOpusComplexity: calls.opus_complexity reaches the
// downlink's Opus encoder (an out-of-range value is refused by transcode,
// so it cannot have been dropped on the way).
func TestTranscodersTakeOpusComplexity(t *testing.T) {
	tests := []struct {
		name       string
		browser    telephony.Codec
		complexity int
		wantErr    error
	}{
		{"opus lowest", telephony.Opus, 0, nil},
		{"opus highest", telephony.Opus, 10, nil},
		{"opus out of range", telephony.Opus, 11, transcode.ErrInvalidOption},
		{"opus negative", telephony.Opus, -1, transcode.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, down, err := newTranscoders(tt.browser, telephony.PCMU, false, tt.complexity)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("newTranscoders(complexity %d) error = %v, want %v", tt.complexity, err, tt.wantErr)
			}
			if err == nil && (up == nil || down == nil) {
				t.Fatal("no transcoders and no error")
			}
		})
	}
}
