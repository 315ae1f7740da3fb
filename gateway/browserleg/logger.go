package browserleg

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LevelTrace is the slog level of pion's trace messages, below Debug.
const LevelTrace = slog.LevelDebug - 4

// LoggerFactory adapts a *slog.Logger to pion's logging.LoggerFactory. Each
// pion component ("ice", "dtls", "pc", ...) logs with a "scope" attribute.
// Every pion message concerns one connection, and the gateway logs each
// call's outcome itself, so pion's levels are shifted one step down: Error
// is logged at Warn, Warn at Info (pion warns on every ordinary teardown),
// Info at Debug, Debug at Debug and Trace at [LevelTrace]. Messages are
// formatted only when their level is enabled.
type LoggerFactory struct {
	Logger *slog.Logger
}

// NewLogger returns the leveled logger of one pion component.
func (f LoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	l := f.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}

	return &leveledLogger{l: l.With(slog.String("scope", scope))}
}

// leveledLogger implements logging.LeveledLogger on slog.
type leveledLogger struct {
	l *slog.Logger
}

func (p *leveledLogger) log(level slog.Level, msg string) {
	p.l.Log(context.Background(), level, msg)
}

func (p *leveledLogger) logf(level slog.Level, format string, args ...any) {
	if !p.l.Enabled(context.Background(), level) {
		return
	}
	p.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (p *leveledLogger) Trace(msg string)                  { p.log(LevelTrace, msg) }
func (p *leveledLogger) Tracef(format string, args ...any) { p.logf(LevelTrace, format, args...) }
func (p *leveledLogger) Debug(msg string)                  { p.log(slog.LevelDebug, msg) }
func (p *leveledLogger) Debugf(format string, args ...any) { p.logf(slog.LevelDebug, format, args...) }
func (p *leveledLogger) Info(msg string)                   { p.log(slog.LevelDebug, msg) }
func (p *leveledLogger) Infof(format string, args ...any)  { p.logf(slog.LevelDebug, format, args...) }
func (p *leveledLogger) Warn(msg string)                   { p.log(slog.LevelInfo, msg) }
func (p *leveledLogger) Warnf(format string, args ...any)  { p.logf(slog.LevelInfo, format, args...) }
func (p *leveledLogger) Error(msg string)                  { p.log(slog.LevelWarn, msg) }
func (p *leveledLogger) Errorf(format string, args ...any) { p.logf(slog.LevelWarn, format, args...) }
