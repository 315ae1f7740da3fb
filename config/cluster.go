package config

import (
	"net/url"
	"regexp"
	"time"
)

// Redis failure policies (RedisConfig.FailurePolicy).
const (
	// FailOpen lets calls through while Redis is unreachable, counted
	// against the limits in this process alone.
	FailOpen = "fail_open"
	// FailClosed refuses calls while Redis is unreachable.
	FailClosed = "fail_closed"
)

// ClusterConfig is what several gateway instances behind one SIP proxy
// share (README, "More than one machine").
type ClusterConfig struct {
	// Instance names this gateway among the instances, 1 to 64 of the
	// characters of a user id: resume tokens it issues start with it and a
	// dot (a resume sent to another instance is refused, naming it), and
	// it is the seed of the RFC 5626 +sip.instance of its registered
	// contacts. Default: no name in tokens; the SIP public host and port
	// for +sip.instance.
	Instance string `yaml:"instance"`
	// Redis, when its URL is set, holds the users' fraud limits (calls in
	// progress, calls per minute, daily minutes, prefix caps) for every
	// instance configured with the same server and key prefix. Empty: the
	// limits are counted in each process.
	Redis RedisConfig `yaml:"redis"`
}

// RedisConfig is the Redis server of the shared limits.
type RedisConfig struct {
	// URL is redis://[user:password@]host:port/db, rediss:// for TLS, or
	// unix:///path/to/socket; typically "${WEBTRUNK_REDIS_URL}". Empty:
	// no Redis. Default empty.
	URL Secret `yaml:"url"`
	// FailurePolicy is what a dial does while Redis cannot be reached (or
	// does not answer within Timeout): "fail_open" allows it, counted in
	// this process alone until Redis answers again; "fail_closed" refuses
	// it with the protocol code limits_unavailable. Default "fail_open".
	FailurePolicy string `yaml:"failure_policy"`
	// Timeout bounds each Redis operation, connecting included, from 10ms
	// to 10s; a dial waits at most this long for its limits. Default 500ms.
	Timeout time.Duration `yaml:"timeout"`
	// KeyPrefix starts every key the gateway writes: 1 to 64 letters,
	// digits and ".:_-". Instances sharing limits share it. Default
	// "webtrunk:".
	KeyPrefix string `yaml:"key_prefix"`
}

// Enabled reports whether the limits are shared in Redis.
func (r RedisConfig) Enabled() bool { return !r.URL.IsZero() }

// ClusterDefault returns the defaults of the cluster section.
func ClusterDefault() ClusterConfig {
	return ClusterConfig{Redis: RedisConfig{FailurePolicy: FailOpen, Timeout: 500 * time.Millisecond, KeyPrefix: "webtrunk:"}}
}

// keyPrefix is the form of cluster.redis.key_prefix.
var keyPrefix = regexp.MustCompile(`^[A-Za-z0-9.:_-]{1,64}$`)

// validateCluster checks the cluster section.
func (c *Config) validateCluster(p *problems) {
	c.validateAccounts(p)
	if inst := c.Cluster.Instance; inst != "" && (!ValidUserID(inst) || len(inst) > 64) {
		p.add("cluster.instance", "1 to 64 characters of A-Z, a-z, 0-9, ., _, @ and -")
	}
	r := &c.Cluster.Redis
	checkOneOf(p, "cluster.redis.failure_policy", r.FailurePolicy, FailOpen, FailClosed)
	checkRange(p, "cluster.redis.timeout", r.Timeout, 10*time.Millisecond, 10*time.Second)
	if !keyPrefix.MatchString(r.KeyPrefix) {
		p.add("cluster.redis.key_prefix", "must be 1 to 64 letters, digits or .:_-")
	}
	if !r.Enabled() {
		return
	}
	u, err := url.Parse(r.URL.Reveal())
	switch {
	case err != nil:
		// The parse error quotes the URL, password included.
		p.add("cluster.redis.url", "is not a URL")
	case u.Scheme == "unix" && u.Path == "":
		p.add("cluster.redis.url", "unix: needs the socket's path, as unix:///run/redis/redis.sock")
	case u.Scheme != "unix" && u.Scheme != "redis" && u.Scheme != "rediss":
		p.add("cluster.redis.url", "must be a redis://, rediss:// or unix:// URL")
	case u.Scheme != "unix" && u.Hostname() == "":
		p.add("cluster.redis.url", "needs a host, as redis://redis.example:6379/0")
	}
}
