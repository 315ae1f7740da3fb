package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// gatewayCounters are the gateway's own media counters (webtrunk_* in
// gateway/metrics.go), by media direction. The gateway adds a call's
// counts when the call ends, so a difference of two scrapes around a run
// covers exactly the calls of the run once they have all ended.
type gatewayCounters struct {
	UplinkPackets      float64 `json:"uplink_packets"`
	DownlinkPackets    float64 `json:"downlink_packets"`
	UplinkLost         float64 `json:"uplink_lost"`
	DownlinkLost       float64 `json:"downlink_lost"`
	UplinkTranscodeS   float64 `json:"uplink_transcode_s"`
	DownlinkTranscodeS float64 `json:"downlink_transcode_s"`
}

// sub returns c minus an earlier scrape a.
func (c gatewayCounters) sub(a gatewayCounters) gatewayCounters {
	return gatewayCounters{
		UplinkPackets: c.UplinkPackets - a.UplinkPackets, DownlinkPackets: c.DownlinkPackets - a.DownlinkPackets,
		UplinkLost: c.UplinkLost - a.UplinkLost, DownlinkLost: c.DownlinkLost - a.DownlinkLost,
		UplinkTranscodeS:   c.UplinkTranscodeS - a.UplinkTranscodeS,
		DownlinkTranscodeS: c.DownlinkTranscodeS - a.DownlinkTranscodeS,
	}
}

// scrapeTimeout bounds one read of the metrics endpoint.
const scrapeTimeout = 5 * time.Second

// scrape reads the gateway's counters from its Prometheus text endpoint,
// with the admin listener's bearer token from $WEBTRUNK_ADMIN_TOKEN when
// that is set.
func scrape(ctx context.Context, url string) (gatewayCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return gatewayCounters{}, fmt.Errorf("loadgen: metrics: %w", err)
	}
	if token := os.Getenv("WEBTRUNK_ADMIN_TOKEN"); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return gatewayCounters{}, fmt.Errorf("loadgen: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return gatewayCounters{}, fmt.Errorf("loadgen: metrics: %w: %s", errRefused, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return gatewayCounters{}, fmt.Errorf("loadgen: metrics: %w", err)
	}
	var c gatewayCounters
	value := func(family, media string) float64 {
		f, ok := families[family]
		if !ok {
			return 0
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "media" && l.GetValue() == media {
					return m.GetCounter().GetValue()
				}
			}
		}

		return 0
	}
	c.UplinkPackets = value("webtrunk_rtp_packets_total", "uplink")
	c.DownlinkPackets = value("webtrunk_rtp_packets_total", "downlink")
	c.UplinkLost = value("webtrunk_rtp_packets_lost_total", "uplink")
	c.DownlinkLost = value("webtrunk_rtp_packets_lost_total", "downlink")
	c.UplinkTranscodeS = value("webtrunk_transcode_seconds_total", "uplink")
	c.DownlinkTranscodeS = value("webtrunk_transcode_seconds_total", "downlink")

	return c, nil
}
