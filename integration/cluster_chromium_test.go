package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// TestClusterKamailioChromium: alice has a Chromium page on the second
// instance and a Go browser on the first; a carrier's call to her DID
// through Kamailio rings both, the page answers first and hears its own
// tone echoed by the caller, and the first instance's tab stops ringing
// (Kamailio cancels its branch, saying it was answered elsewhere).
func TestClusterKamailioChromium(t *testing.T) {
	c := startCluster(t)
	kamPort, gw1, gw2 := c.kamPort, c.gw1, c.gw2

	a1 := gw1.alice(t)
	page := browserStart(t, browserToneHz)
	page.login(gw2.pageURL(), userAlice, testPassword)
	awaitExtensionRegistered(t, gw2, userAlice)

	uac := carrierCall(t, kamPort)
	id1 := ringing(t, a1)
	page.waitState("incoming", 15*time.Second)
	page.click("accept")
	page.waitState("connected", 15*time.Second)
	rep := page.waitHears(browserToneHz, trunkToneHz, 6*time.Second)
	t.Logf("page on the second instance hears its tone echoed by the caller: rms %.0f, share %.2f", rep.RMS, rep.Want)
	a1.ws.ExpectHangup(t, id1, signaling.ReasonAnsweredElsewhere, 0)
	page.waitState("idle", 20*time.Second)
	uac.Wait(stepTimeout)
}

// awaitExtensionRegistered polls the admin API of g until user's
// extension is registered from it.
func awaitExtensionRegistered(t *testing.T, g *clusterGateway, user string) {
	t.Helper()
	url := "http://" + g.gw.AdminAddr().String() + "/v1/extensions"
	deadline := time.Now().Add(20 * time.Second)
	for {
		var body struct {
			Extensions []struct {
				User       string `json:"user"`
				Registered bool   `json:"registered"`
			} `json:"extensions"`
		}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer test-admin-token-0123456789")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			err = json.NewDecoder(resp.Body).Decode(&body)
			_ = resp.Body.Close()
			for _, x := range body.Extensions {
				if err == nil && x.User == user && x.Registered {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s's extension not registered after 20s: %+v", g.name, user, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
