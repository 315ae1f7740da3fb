package gateway

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// TestReloadReplacesTrunk: a reload that renames the trunk (a removed
// trunk and a new one) leaves the call in progress on the old trunk with
// its audio, sends the next dial through the new trunk, lists only the new
// trunk, and reports the sections that need a restart; the admin API's
// reload without a file to read is refused.
func TestReloadReplacesTrunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, p, tc := callUp(t, e)
	tc.Heard().WaitSamples(t, secondOfAudio)

	next := parseTestConfig(t, testConfig{trunkPort: int(e.trunk.Addr().Port()), edit: func(c *config.Config) {
		c.Trunks[0].Name = "fake2"
		for i := range c.Outbound {
			c.Outbound[i].Trunk = "fake2"
		}
		c.Trunks[0].Health = config.TrunkHealth{Interval: time.Minute, Timeout: time.Second, DownAfter: 3, UpAfter: 2}
		c.HTTP.Listen = "127.0.0.1:1"
		c.Cluster.Redis.Timeout = time.Second
	}})
	res, err := e.gw.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Restart, "http") || !slices.Contains(res.Restart, "trunks[].health") || !slices.Contains(res.Restart, "cluster") ||
		slices.Contains(res.Restart, "sip") {
		t.Errorf("restart needed for %v, want http, trunks[].health and cluster, not sip", res.Restart)
	}
	upMark, downMark := tc.Heard().Len(), p.Heard().Len()
	testcodec.AssertTone(t, tc.Heard().WaitSamples(t, upMark+secondOfAudio)[upMark:], 440, 1000)
	testcodec.AssertTone(t, p.Heard().WaitSamples(t, downMark+secondOfAudio)[downMark:], 1000, 440)

	dial(t, b, "c2", "+15550124")
	e.trunk.NextCall(t)
	e.logs.WaitLine(t, "trunk=fake2")
	var trunks struct {
		Trunks []apiTrunk `json:"trunks"`
	}
	adminJSON(t, e, http.MethodGet, "/v1/trunks", http.StatusOK, &trunks)
	if len(trunks.Trunks) != 1 || trunks.Trunks[0].Name != "fake2" || trunks.Trunks[0].Calls != 1 {
		t.Errorf("trunks after the reload %+v, want fake2 with the one new call", trunks.Trunks)
	}
	adminJSON(t, e, http.MethodPost, "/v1/reload", http.StatusConflict, nil)
}

// TestReloadUsers: a user removed by a reload can no longer log in, and
// its open connection can no longer dial; the other users are untouched.
func TestReloadUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	bob := login(t, e, "bob")
	alice := login(t, e, "alice")
	next := parseTestConfig(t, testConfig{trunkPort: int(e.trunk.Addr().Port()), edit: func(c *config.Config) {
		c.Auth.Users = slices.DeleteFunc(c.Auth.Users, func(u config.User) bool { return u.ID == "bob" })
	}})
	if _, err := e.gw.Reload(next); err != nil {
		t.Fatal(err)
	}
	again := newTab(t, e)
	again.Send(t, signaling.Auth{Version: signaling.Version, User: "bob", Password: testPassword, Ref: "l"})
	if r := expect[signaling.ErrorReply](t, again); r.Code != signaling.CodeUnauthorized {
		t.Errorf("login of a removed user: %+v", r)
	}
	refusedDial(t, e, bob, "b1", "+447700900123", signaling.CodeUnauthorized)
	dial(t, alice, "a1", "+15550123")
	e.trunk.NextCall(t)
}
