package gateway

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/fraud"
)

// redisLogInterval is the least time between two log lines about failed
// Redis operations of one kind.
const redisLogInterval = 10 * time.Second

// redisLease is how much longer than calls.max_duration a call counts in
// Redis without its end (the ringing, and margin): a gateway that dies
// mid-call frees its users' places after this.
const redisLease = 15 * time.Minute

// sharedLimits is the Redis counter of a gateway with cluster.redis.url,
// with its metrics and the throttle of its log lines.
type sharedLimits struct {
	redis  *fraud.Redis
	errors *prometheus.CounterVec
	log    *throttle
}

// newCounter returns the fraud counter of cfg: a Redis counter when
// cluster.redis.url is set (it connects at the first call), the process's
// own otherwise.
func (g *Gateway) newCounter(cfg *config.Config) (fraud.Counter, error) {
	rc := cfg.Cluster.Redis
	if !rc.Enabled() {
		return &fraud.Memory{}, nil
	}
	s := &sharedLimits{log: newThrottle(redisLogInterval, 4)}
	r, err := fraud.NewRedis(fraud.RedisConfig{
		URL: rc.URL.Reveal(), KeyPrefix: rc.KeyPrefix, Timeout: rc.Timeout,
		FailClosed: rc.FailurePolicy == config.FailClosed,
		CallLease:  cfg.Calls.MaxDuration + redisLease,
		OnError:    g.redisFailed,
	})
	if err != nil {
		// go-redis's parse error does not quote the URL.
		return nil, fmt.Errorf("gateway: cluster.redis.url: %w", err)
	}
	s.redis = r
	s.errors = g.metrics.registerRedis(r.Up)
	g.shared = s

	return r, nil
}

// redisFailed counts a failed Redis operation and logs it, at most once
// per redisLogInterval for each operation.
func (g *Gateway) redisFailed(op string, err error) {
	s := g.shared
	if s == nil {
		return
	}
	s.errors.WithLabelValues(op).Inc()
	if s.log.allow(op, time.Now()) {
		policy := "allowed, counted in this instance"
		if g.cfg.Cluster.Redis.FailurePolicy == config.FailClosed {
			policy = "refused"
		}
		if op == "end" {
			policy = "answered time not counted; the call's place is freed by its lease"
		}
		g.log.Warn("shared limits: redis unreachable", "op", op, "error", err, "calls", policy,
			"log_interval", redisLogInterval)
	}
}

// closeShared closes the connections to Redis, if any.
func (g *Gateway) closeShared() {
	if g.shared != nil {
		_ = g.shared.redis.Close()
	}
}

// errResumeElsewhere refuses a resume token issued by another instance.
var errResumeElsewhere = errors.New("resume token issued by another instance: reconnect to it")

// newInstanceToken returns a fresh resume token and its key; with
// cluster.instance set, the token starts with the instance's name and a
// dot, so that a load balancer (or the client) can send the resume to the
// instance holding the calls.
func (g *Gateway) newInstanceToken() (string, tokenKey) {
	tok, key := newResumeToken()
	if inst := g.cfg.Cluster.Instance; inst != "" {
		tok = inst + "." + tok
		key = sha256.Sum256([]byte(tok))
	}

	return tok, key
}

// resumeElsewhere returns errResumeElsewhere, naming the instance, when
// token names an instance other than this one; nil otherwise.
func (g *Gateway) resumeElsewhere(token string) error {
	i := strings.LastIndexByte(token, '.')
	if i <= 0 {
		return nil
	}
	if inst := token[:i]; inst != g.cfg.Cluster.Instance {
		return fmt.Errorf("%w (%s)", errResumeElsewhere, inst)
	}

	return nil
}
