package main

import (
	"context"
	"fmt"
	"log/slog"
)

// redisLogger sends go-redis's own log lines (one per failed dial, for
// instance) to the process logger at debug level: the gateway reports
// Redis outages itself, throttled, with the metric
// webtrunk_redis_errors_total.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis's logging interface.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}
