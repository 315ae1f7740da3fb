package browserleg

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// stringer counts how often it is formatted.
type stringer struct{ calls *int }

func (s stringer) String() string { *s.calls++; return "formatted" }

func TestLoggerFactory(t *testing.T) {
	var buf bytes.Buffer
	f := LoggerFactory{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: LevelTrace}))}
	l := f.NewLogger("ice")
	l.Trace("t")
	l.Tracef("t%d", 1)
	l.Debug("d")
	l.Debugf("d%d", 1)
	l.Info("i")
	l.Infof("i%d", 1)
	l.Warn("w")
	l.Warnf("w%d", 1)
	l.Error("e")
	l.Errorf("e%d", 1)
	want := []string{
		"level=DEBUG-4 msg=t scope=ice", "level=DEBUG-4 msg=t1 scope=ice",
		"level=DEBUG msg=d scope=ice", "level=DEBUG msg=d1 scope=ice",
		"level=DEBUG msg=i scope=ice", "level=DEBUG msg=i1 scope=ice",
		"level=INFO msg=w scope=ice", "level=INFO msg=w1 scope=ice",
		"level=WARN msg=e scope=ice", "level=WARN msg=e1 scope=ice",
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, line := range lines {
		if !strings.Contains(line, want[i]) {
			t.Errorf("line %d = %q, want it to contain %q", i, line, want[i])
		}
	}
}

func TestLoggerFormatsOnlyWhenEnabled(t *testing.T) {
	var buf bytes.Buffer
	f := LoggerFactory{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l := f.NewLogger("dtls")
	calls := 0
	l.Tracef("%v", stringer{&calls})
	l.Debugf("%v", stringer{&calls})
	l.Infof("%v", stringer{&calls})
	if calls != 0 || buf.Len() != 0 {
		t.Fatalf("disabled levels formatted %d times and wrote %q", calls, buf.String())
	}
	l.Warnf("%v", stringer{&calls})
	if calls != 1 || !strings.Contains(buf.String(), "msg=formatted") {
		t.Fatalf("enabled level: %d formats, output %q", calls, buf.String())
	}
	allocs := testing.AllocsPerRun(100, func() { l.Debugf("packet %d from %s", 1234, "10.0.0.1") })
	if allocs > 1 { // the variadic arguments may be boxed
		t.Fatalf("a disabled Debugf allocates %.0f times", allocs)
	}
}

func TestLoggerNil(t *testing.T) {
	l := LoggerFactory{}.NewLogger("pc")
	l.Errorf("no logger: %s", "discarded")
}
