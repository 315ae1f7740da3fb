package integration

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/freeport"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testproc"
)

// baresipPhone is a running baresip (Debian package baresip-core): a SIP
// phone on 127.0.0.1 that auto-answers, sends a WAV file as its microphone
// and records what it sends and hears to WAV files (module sndfile). The
// test drives it and reads its events over ctrl_tcp.
type baresipPhone struct {
	sipAddr netip.AddrPort
	dir     string // configuration, logs and recordings
	out     *logcapture.Capture
	cmd     *exec.Cmd
	proc    *testproc.Proc

	ctrl   net.Conn
	mu     sync.Mutex
	events []baresipEvent
	wg     sync.WaitGroup
}

// baresipEvent is one event of baresip's ctrl_tcp interface.
type baresipEvent struct {
	Event   bool   `json:"event"`
	Type    string `json:"type"`
	Param   string `json:"param"`
	PeerURI string `json:"peeruri"`
}

// baresipConfig is baresip's configuration file: loopback only, no DNS, no
// STUN/TURN/ICE, G.711 only, microphone from a file, speaker to nowhere,
// recordings into the configuration directory.
const baresipConfig = `poll_method		epoll
sip_listen		{{SIP}}
net_interface		127.0.0.1
dns_server		127.0.0.1:53
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,speaker
audio_alert		aubridge,alert
audio_source		aufile,{{MIC}}
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
audio_path		/usr/share/baresip
rtp_tos			0
jitter_buffer_delay	1-10
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_app		account.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		{{CTRL}}
snd_path		{{DIR}}
{{TLS}}`

// baresipStart starts baresip listening for SIP on 127.0.0.1 with an
// account for number (E.164: baresip answers only INVITEs whose
// Request-URI user is its account's) that auto-answers and speaks PCMU/PCMA
// with 20 ms packets, whose
// microphone plays a toneHz sine (60 s, longer than any test call). It fails
// the test loudly when baresip is not installed, and stops baresip at the end
// of the test.
func baresipStart(t *testing.T, number string, toneHz int) *baresipPhone {
	t.Helper()

	return baresipStartWith(t, number, toneHz, baresipOptions{})
}

// baresipOptions are what a test may add to baresip's set-up.
type baresipOptions struct {
	// TLSCert is a PEM file with a certificate and its key: baresip then
	// also takes SIP over TLS, on the port above its UDP/TCP port
	// (baresipPhone.tlsPort).
	TLSCert string
	// MediaEnc is the account's media encryption (module srtp): srtp
	// (best effort, RTP/AVP with a=crypto), srtp-mand (RTP/SAVP only) or
	// srtp-mandf; none when empty.
	MediaEnc string
	// Dials loads module menu, which gives ctrl_tcp the dial command
	// (baresipPhone.command).
	Dials bool
}

// baresipStartWith is baresipStart with the options.
func baresipStartWith(t *testing.T, number string, toneHz int, opts baresipOptions) *baresipPhone {
	t.Helper()
	bin, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatalf("baresip not found: install the Debian package baresip-core (%v)", err)
	}
	dir := t.TempDir()
	mic := filepath.Join(dir, "microphone.wav")
	browserWriteWAV(t, mic, toneHz, 8000, 60)
	sipAddr := freeport.UDP(t)
	ctrlAddr := freeport.TCP(t).String()
	var extra, params string
	if opts.TLSCert != "" {
		extra += "sip_certificate\t\t" + opts.TLSCert + "\n"
	}
	if opts.Dials {
		extra += "module_app\t\tmenu.so\n"
	}
	if opts.MediaEnc != "" {
		extra += "module\t\t\tsrtp.so\n"
		params = ";mediaenc=" + opts.MediaEnc
	}
	cfg := strings.NewReplacer("{{SIP}}", sipAddr.String(), "{{MIC}}", mic, "{{CTRL}}", ctrlAddr, "{{DIR}}", dir, "{{TLS}}", extra).Replace(baresipConfig)
	account := fmt.Sprintf("<sip:%s@%s>;regint=0;answermode=auto;audio_codecs=PCMU/8000/1,PCMA/8000/1;ptime=20%s\n", number, sipAddr, params)
	for name, body := range map[string]string{"config": cfg, "accounts": account, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &baresipPhone{sipAddr: sipAddr, dir: dir, out: logcapture.NewWriter(t, logcapture.Name("baresip output"), logcapture.Tail(60))}
	ctx, cancel := context.WithCancel(context.Background())
	p.cmd = exec.CommandContext(ctx, bin, "-f", dir, "-v")
	p.cmd.Dir = dir
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(os.Interrupt) }
	p.cmd.WaitDelay = 5 * time.Second
	p.proc = testproc.Start(t, "baresip", p.cmd, cancel)
	t.Cleanup(func() {
		p.proc.Stop()
		if p.ctrl != nil {
			_ = p.ctrl.Close()
		}
		p.wg.Wait()
	})

	// Connect to ctrl_tcp as soon as it listens, and stay connected: events
	// go only to clients connected when they happen.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(context.Background(), "tcp", ctrlAddr)
		if err == nil {
			p.ctrl = c
			break
		}
		select {
		case <-p.proc.Done():
			t.Fatalf("baresip exited at start: %v\n%s", p.proc.Err(), p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip ctrl_tcp at %s not reachable: %v\n%s", ctrlAddr, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.wg.Go(p.readEvents)

	return p
}

// tlsPort is the port baresip takes SIP over TLS on: the one above its
// UDP and TCP port.
func (p *baresipPhone) tlsPort() uint16 { return p.sipAddr.Port() + 1 }

// command sends one ctrl_tcp command (netstring-framed JSON, for example
// "dial" with a SIP URI or "hangup").
func (p *baresipPhone) command(t *testing.T, cmd, params string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(p.ctrl, "%d:%s,", len(body), body); err != nil {
		t.Fatalf("baresip ctrl_tcp %s: %v", cmd, err)
	}
}

// heardTone fails the test unless at least minHeard of baresip's
// recording of the call (after stop) carries wantHz, with little of
// unwantHz, in windows of ear.AnalysisWindow; it returns how many windows
// passed.
func (p *baresipPhone) heardTone(t *testing.T, wantHz, unwantHz float64, minHeard time.Duration) int {
	t.Helper()
	pcm, rate := p.recording(t)
	window := int(ear.AnalysisWindow.Seconds() * float64(rate))
	passing := 0
	var best ear.ToneReport
	for off := 0; off+window <= len(pcm); off += window {
		r := ear.Analyse(pcm[off:off+window], rate, wantHz, unwantHz)
		if r.RMS >= ear.MinToneRMS && r.Want >= ear.MinToneShare && r.Unwant <= ear.MaxEchoShare {
			passing++
		}
		if r.Want > best.Want {
			best = r
		}
	}
	if need := int(minHeard / ear.AnalysisWindow); passing < need {
		t.Fatalf("baresip heard %v Hz in %d windows of %v, want at least %d; best window: rms %.0f, share %.2f, own tone %.2f (%d samples at %d Hz)",
			wantHz, passing, ear.AnalysisWindow, need, best.RMS, best.Want, best.Unwant, len(pcm), rate)
	}

	return passing
}

// readEvents reads netstring-framed JSON messages ("len:json,") from
// ctrl_tcp until the connection closes, and keeps the events.
func (p *baresipPhone) readEvents() {
	r := bufio.NewReader(p.ctrl)
	for {
		lenText, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenText, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		body := make([]byte, n+1) // the message and its trailing ","
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var ev baresipEvent
		if json.Unmarshal(body[:n], &ev) == nil && ev.Event {
			p.mu.Lock()
			p.events = append(p.events, ev)
			p.mu.Unlock()
		}
	}
}

// waitEvent waits for an event of type typ, failing the test after timeout
// with the events seen.
func (p *baresipPhone) waitEvent(t *testing.T, typ string, timeout time.Duration) baresipEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		for _, ev := range p.events {
			if ev.Type == typ {
				p.mu.Unlock()

				return ev
			}
		}
		seen := fmt.Sprint(p.events)
		p.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("baresip sent no %s event within %v; events: %s", typ, timeout, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop asks baresip to quit (SIGINT) and waits until it has closed its
// recordings.
func (p *baresipPhone) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.proc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("baresip did not quit within 10 s of SIGINT")
	}
}

// recording returns what baresip heard during its call: the samples and
// rate of the decoder-side recording of module sndfile (dump-*-dec.wav).
func (p *baresipPhone) recording(t *testing.T) ([]int16, int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(p.dir, "dump-*dec.wav"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want one baresip recording of what it heard in %s, found %v (%v)", p.dir, files, err)
	}
	pcm, rate, err := baresipReadWAV(files[0])
	if err != nil {
		t.Fatalf("read %s: %v", files[0], err)
	}

	return pcm, rate
}

// errBaresipWAV is returned for a file that is not 16-bit mono PCM WAV.
var errBaresipWAV = errors.New("not a 16-bit mono PCM WAV file")

// baresipReadWAV reads a 16-bit mono PCM WAV file (RIFF chunks, as
// libsndfile writes them) and returns its samples and sample rate.
func baresipReadWAV(path string) ([]int16, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, 0, errBaresipWAV
	}
	rate := 0
	for off := 12; off+8 <= len(data); {
		id := string(data[off : off+4])
		size := int(binary.LittleEndian.Uint32(data[off+4:]))
		body := data[off+8 : min(len(data), off+8+size)]
		switch id {
		case "fmt ":
			if len(body) < 16 || binary.LittleEndian.Uint16(body[0:]) != 1 ||
				binary.LittleEndian.Uint16(body[2:]) != 1 || binary.LittleEndian.Uint16(body[14:]) != 16 {
				return nil, 0, errBaresipWAV
			}
			rate = int(binary.LittleEndian.Uint32(body[4:]))
		case "data":
			if rate == 0 {
				return nil, 0, errBaresipWAV
			}
			pcm := make([]int16, len(body)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}

			return pcm, rate, nil
		}
		off += 8 + size + size%2
	}

	return nil, 0, errBaresipWAV
}
