package transcode

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// speechSample makes text into 16-bit mono PCM at rate Hz with espeak-ng
// and sox, failing the test when either tool is missing.
func speechSample(t *testing.T, text string, rate int) []int16 {
	t.Helper()
	for _, tool := range []struct{ bin, pkg string }{{"espeak-ng", "espeak-ng"}, {"sox", "sox"}} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			t.Fatalf("%s not found (install the Debian package %s): %v", tool.bin, tool.pkg, err)
		}
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "speech.wav")
	conv := filepath.Join(dir, "speech-conv.wav")
	if out, err := exec.CommandContext(t.Context(), "espeak-ng", "-w", raw, text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	if out, err := exec.CommandContext(t.Context(), "sox", raw, "-r", strconv.Itoa(rate), "-c", "1", "-b", "16", "-e", "signed-integer", conv).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s", err, out)
	}
	return readWAV(t, conv, rate)
}

// readWAV reads a 16-bit mono PCM WAV file at rate Hz.
func readWAV(t *testing.T, path string, rate int) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s is not a WAV file", path)
	}
	var data []byte
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:off+8]))
		body := b[off+8 : min(len(b), off+8+size)]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				t.Fatalf("%s: short fmt chunk", path)
			}
			ch := binary.LittleEndian.Uint16(body[2:4])
			sr := binary.LittleEndian.Uint32(body[4:8])
			bits := binary.LittleEndian.Uint16(body[14:16])
			if ch != 1 || int(sr) != rate || bits != 16 {
				t.Fatalf("%s: %d channels, %d Hz, %d bits; want mono %d Hz 16 bits", path, ch, sr, bits, rate)
			}
		case "data":
			data = body
		}
		off += 8 + size + size%2
	}
	out := make([]int16, len(data)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	return out
}

// spectrogramDB returns, per 20 ms frame of x (8 kHz), the power in dB at
// bands log-spaced from 300 to 3400 Hz, flattened frame by frame.
func spectrogramDB(x []int16, frames int) []float64 {
	const bands = 12
	out := make([]float64, 0, frames*bands)
	for f := range frames {
		frame := x[f*160 : f*160+160]
		for b := range bands {
			freq := 300 * math.Pow(3400.0/300, float64(b)/(bands-1))
			out = append(out, 10*math.Log10(testaudio.Power(frame, 8000, freq, testaudio.Hann)+1))
		}
	}
	return out
}

func TestSpeechThroughUplinkAndDownlink(t *testing.T) {
	t.Parallel()
	const text = "Webtrunk connects the browser to the telephone network. Seven, eight, nine."
	in48 := speechSample(t, text, browserRate)
	ref := speechSample(t, text, 8000) // band-limited reference for 8 kHz legs
	in48 = append(in48, make([]int16, browserFrame-len(in48)%browserFrame+browserFrame*10)...)
	res := runChain(t, in48, telephony.PCMA, nil)

	legs := []struct {
		name string
		out  []int16
	}{
		{"trunk", res.trunkPC},
		{"browser", decimate6(res.browser)},
	}
	for _, leg := range legs {
		t.Run(leg.name, func(t *testing.T) {
			// Align by the 5 ms energy envelope (delay up to 100 ms).
			envRef, envOut := energyEnvelopeDB(ref, 40), energyEnvelopeDB(leg.out, 40)
			clampFloor(envRef, -70)
			clampFloor(envOut, -70)
			lag, envCorr := bestLag(envRef, envOut, 20)
			if envCorr < 0.9 {
				t.Errorf("energy envelope correlation %.3f, want >= 0.9", envCorr)
			}
			shift := lag * 40
			frames := min(len(ref), len(leg.out)-shift) / 160
			specRef := spectrogramDB(ref, frames)
			specOut := spectrogramDB(leg.out[shift:], frames)
			specCorr := correlation(specRef, specOut)
			if specCorr < 0.85 {
				t.Errorf("spectral envelope correlation %.3f, want >= 0.85", specCorr)
			}
			// The same measure against the output 300 ms late must be much
			// worse: the checks above cannot pass on any speech-like sound.
			wrong := correlation(specRef[:len(specRef)-15*12], spectrogramDB(leg.out[shift+2400:], frames-15))
			if wrong > specCorr-0.2 {
				t.Errorf("misaligned speech correlates %.3f, too close to %.3f: the measure does not discriminate", wrong, specCorr)
			}
			dl := testaudio.LevelDBFS(leg.out[shift:shift+frames*160]) - testaudio.LevelDBFS(ref[:frames*160])
			if math.Abs(dl) > 3 {
				t.Errorf("speech level off by %.1f dB", dl)
			}
			t.Logf("%s: delay %d ms, envelope corr %.3f, spectral corr %.3f (misaligned %.3f), level %+.1f dB",
				leg.name, shift/8, envCorr, specCorr, wrong, dl)
		})
	}
}

func clampFloor(x []float64, floor float64) {
	for i, v := range x {
		x[i] = max(v, floor)
	}
}
