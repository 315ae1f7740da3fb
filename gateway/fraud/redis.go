package fraud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a Redis Counter.
type RedisConfig struct {
	// URL is the server, redis://[user:password@]host:port/db or
	// rediss:// for TLS (go-redis ParseURL syntax).
	URL string
	// KeyPrefix starts every key the counter writes; default "webtrunk:".
	// Gateways that share limits share the prefix.
	KeyPrefix string
	// Timeout bounds each operation, dial included; default 500 ms. A
	// call waits at most this long for its limits when Redis is slow.
	Timeout time.Duration
	// FailClosed refuses calls (Unavailable) while Redis cannot be
	// reached; otherwise (fail open) they are counted in this process
	// alone until Redis answers again.
	FailClosed bool
	// CallLease is the longest time a call counts as in progress without
	// its End (a gateway that died mid-call never sends one); it should
	// exceed the longest call with its ringing. Default 49 h.
	CallLease time.Duration
	// OnError, when set, is called with each failed operation ("begin"
	// or "end") and its error; it must not block.
	OnError func(op string, err error)
}

// Redis is a Counter whose counts live in one Redis server, shared by
// every gateway configured with the same server and key prefix. Each
// Begin and End is one Lua script, so the check and the count are atomic
// across gateways; every key expires on its own (starts after 2 min,
// calls in progress after CallLease, daily counts after 48 h).
//
// Keys, for user u and prefix P: P{u}:starts (sorted set of the starts
// in the last minute, scored by their time in ms), P{u}:calls (sorted set
// of the calls in progress, scored by the end of their lease), P{u}:day:D
// (hash of the UTC day D: "used" answered ms and "p:<prefix>" calls
// started to a capped prefix), P{u}:pin:<prefix> (calls in progress to a
// capped prefix). The braces keep one user's keys in one Redis Cluster
// slot.
type Redis struct {
	cfg    RedisConfig
	client *redis.Client
	// local counts calls while Redis is unreachable and the policy is to
	// fail open.
	local Memory
	// down is 1 while the last operation failed.
	down atomic.Bool
}

// Default Redis settings.
const (
	DefaultRedisTimeout   = 500 * time.Millisecond
	DefaultRedisCallLease = 49 * time.Hour
	DefaultRedisKeyPrefix = "webtrunk:"
)

// Expiry of the keys that are not calls in progress.
const (
	startsTTL = 2 * time.Minute
	dayTTL    = 48 * time.Hour
)

// ErrRedisURL is returned by NewRedis for a URL go-redis cannot parse.
var ErrRedisURL = errors.New("fraud: bad redis url")

// NewRedis returns a Redis counter for cfg. It does not connect: the
// first Begin does. It returns ErrRedisURL (wrapped) for a bad URL.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	opt, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRedisURL, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRedisTimeout
	}
	if cfg.CallLease <= 0 {
		cfg.CallLease = DefaultRedisCallLease
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = DefaultRedisKeyPrefix
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = cfg.Timeout, cfg.Timeout, cfg.Timeout
	opt.PoolTimeout = cfg.Timeout
	// A retry would double the wait of a call when Redis is down; the
	// failure policy decides instead.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true

	return &Redis{cfg: cfg, client: redis.NewClient(opt)}, nil
}

// Close closes the connections to Redis.
func (r *Redis) Close() error { return r.client.Close() }

// Up reports whether the last operation reached Redis (true before the
// first).
func (r *Redis) Up() bool { return !r.down.Load() }

// failed records an operation's failure.
func (r *Redis) failed(op string, err error) {
	r.down.Store(true)
	if r.cfg.OnError != nil {
		r.cfg.OnError(op, err)
	}
}

// key returns the key of user's counts named by parts.
func (r *Redis) key(user string, parts ...string) string {
	return r.cfg.KeyPrefix + "{" + user + "}:" + strings.Join(parts, ":")
}

// beginScript checks and counts one call (Counter.Begin).
// KEYS: starts, calls, day, then one in-progress set per matching prefix.
// ARGV: now ms, id, lease end ms, per-minute cap, concurrent cap, daily
// ms cap, starts TTL ms, lease TTL ms, day TTL ms, then per prefix: the
// prefix, its concurrent cap, its daily cap. It returns {refusal, used
// ms}, refusal "" when counted.
var beginScript = redis.NewScript(`
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local perMinute, concurrent, daily = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if perMinute > 0 and redis.call('ZCARD', KEYS[1]) >= perMinute then return {'calls_per_minute', 0} end
if concurrent > 0 and redis.call('ZCARD', KEYS[2]) >= concurrent then return {'concurrent_calls', 0} end
local used = tonumber(redis.call('HGET', KEYS[3], 'used') or '0')
if daily > 0 and used >= daily then return {'daily_minutes', used} end
for i = 4, #KEYS do
  local a = 10 + (i - 4) * 3
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local maxIn, maxDay = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if (maxIn > 0 and redis.call('ZCARD', KEYS[i]) >= maxIn) or
     (maxDay > 0 and tonumber(redis.call('HGET', KEYS[3], 'p:' .. ARGV[a]) or '0') >= maxDay) then
    return {'prefix', 0}
  end
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
for i = 4, #KEYS do
  local a = 10 + (i - 4) * 3
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[i], ARGV[8])
  redis.call('HINCRBY', KEYS[3], 'p:' .. ARGV[a], 1)
end
if #KEYS > 3 then redis.call('PEXPIRE', KEYS[3], ARGV[9]) end
return {'', used}
`)

// endScript gives a call back (Counter.End).
// KEYS: calls, day, then one in-progress set per prefix of the ticket.
// ARGV: id, answered ms, day TTL ms.
var endScript = redis.NewScript(`
for i = 1, #KEYS do
  if i ~= 2 then redis.call('ZREM', KEYS[i], ARGV[1]) end
end
local answered = tonumber(ARGV[2])
if answered > 0 then
  redis.call('HINCRBY', KEYS[2], 'used', answered)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
`)

// ms is d in whole milliseconds, as a script argument.
func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// newID returns a random call id for the counts.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)

	return hex.EncodeToString(b[:])
}

// Begin implements Counter. When Redis cannot be reached within the
// timeout, it refuses the call with Unavailable (fail closed) or counts it
// in this process alone with Ticket.Local set (fail open).
func (r *Redis) Begin(user, number string, lim Limits, now time.Time) (Ticket, Refusal) {
	t := Ticket{User: user, ID: newID()}
	keys := []string{r.key(user, "starts"), r.key(user, "calls"), r.key(user, "day", dayOf(now))}
	args := []any{
		now.UnixMilli(), t.ID, now.Add(r.cfg.CallLease).UnixMilli(),
		lim.CallsPerMinute, lim.ConcurrentCalls, int64(lim.DailyMinutes) * time.Minute.Milliseconds(),
		ms(startsTTL), ms(r.cfg.CallLease), ms(dayTTL),
	}
	for _, p := range lim.Prefixes {
		if strings.HasPrefix(number, p.Prefix) {
			t.Prefixes = append(t.Prefixes, p.Prefix)
			keys = append(keys, r.key(user, "pin", p.Prefix))
			args = append(args, p.Prefix, p.MaxConcurrent, p.MaxPerDay)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	res, err := beginScript.Run(ctx, r.client, keys, args...).Slice()
	var refusal string
	var used int64
	if err == nil {
		refusal, used, err = beginResult(res)
	}
	if err != nil {
		r.failed("begin", err)
		if r.cfg.FailClosed {
			return Ticket{}, Unavailable
		}
		lt, ref := r.local.Begin(user, number, lim, now)
		lt.Local = true

		return lt, ref
	}
	r.down.Store(false)
	if refusal != "" {
		return Ticket{}, Refusal(refusal)
	}
	if lim.DailyMinutes > 0 {
		t.Remaining = time.Duration(lim.DailyMinutes)*time.Minute - time.Duration(used)*time.Millisecond
	}

	return t, None
}

// errRedisReply is a script reply of an unexpected shape.
var errRedisReply = errors.New("fraud: unexpected redis reply")

// beginResult decodes beginScript's reply.
func beginResult(res []any) (string, int64, error) {
	if len(res) != 2 {
		return "", 0, errRedisReply
	}
	refusal, ok1 := res[0].(string)
	used, ok2 := res[1].(int64)
	if !ok1 || !ok2 {
		return "", 0, errRedisReply
	}

	return refusal, used, nil
}

// End implements Counter. When Redis cannot be reached, the call's place
// is freed by its lease and its answered time is not counted.
func (r *Redis) End(t Ticket, answered time.Duration, now time.Time) {
	if t.Local {
		r.local.End(t, answered, now)

		return
	}
	keys := []string{r.key(t.User, "calls"), r.key(t.User, "day", dayOf(now))}
	for _, p := range t.Prefixes {
		keys = append(keys, r.key(t.User, "pin", p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	if err := endScript.Run(ctx, r.client, keys, t.ID, max(answered, 0).Milliseconds(), ms(dayTTL)).Err(); err != nil {
		r.failed("end", err)

		return
	}
	r.down.Store(false)
}
