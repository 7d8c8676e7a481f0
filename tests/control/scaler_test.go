package control

import (
	"fmt"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// fastScaler makes the scaler run every second with a short scale-down
// window, so that a test sees it act within seconds.
func fastScaler(d *types.FunctionDeployment) {
	(*d.Annotations)[contract.AnnotationSchedule] = "@every 1s"
	d.EnvVars["MYSIMBDP_SCALE_STABILIZATION"] = "4s"
}

// TestScalerFollowsTheLoad: a burst to one tenant scales its stream
// function above one replica, and after the burst it comes back down; an
// idle tenant is scaled to zero and its next message wakes it. Replica
// counts are read from the provider's API; every record is stored once.
func TestScalerFollowsTheLoad(t *testing.T) {
	p := startPlatform(t, map[string]string{
		"tenant1": streamProfile("tenant1", 1_000_000, "5s"),
		"tenant2": streamProfile("tenant2", 1_000_000, "5s"),
	})
	p.redeploy(t, "scaler", fastScaler)

	// tenant1's function takes small batches one at a time, so a burst
	// makes a backlog; target 200 per replica, at most 3.
	p.redeploy(t, "tenant1-stream-ingest", func(d *types.FunctionDeployment) {
		(*d.Labels)[contract.LabelScaleMin] = "1"
		(*d.Labels)[contract.LabelScaleMax] = "3"
		(*d.Labels)[contract.LabelScaleTarget] = "200"
		(*d.Annotations)[contract.AnnotationBatchSize] = "20"
		(*d.Annotations)[contract.AnnotationMaxInflight] = "1"
	})
	// tenant2's goes to zero after 3 idle seconds.
	p.redeploy(t, "tenant2-stream-ingest", func(d *types.FunctionDeployment) {
		(*d.Labels)[contract.LabelScaleMin] = "1"
		(*d.Labels)[contract.LabelScaleZero] = "true"
		(*d.Labels)[contract.LabelScaleZeroDuration] = "3s"
	})

	// The burst starts once the connector fires the scaler on its new
	// schedule (and so has read the function list with the changes).
	p.waitInvocations(t, "scaler", 3)
	const burst = 6000
	start := time.Now()
	p.publish(t, "ingest.tenant1.covid", 0, burst)
	peak := 0
	harness.Until(t, 2*time.Minute, "tenant1-stream-ingest scaled above one replica", func() (bool, string) {
		n, err := p.replicas(t, "tenant1-stream-ingest")
		peak = max(peak, n)
		return n > 1, fmt.Sprintf("%d replicas, err %v", n, err)
	})
	t.Logf("scaled up to %d replicas %.1fs after the burst", peak, time.Since(start).Seconds())
	harness.Until(t, 4*time.Minute, "the burst stored", func() (bool, string) {
		n, err := p.count("tenant1", "covid_daily")
		return n == burst, fmt.Sprintf("%d of %d stored, err %v", n, burst, err)
	})
	harness.Until(t, 2*time.Minute, "tenant1-stream-ingest back to one replica", func() (bool, string) {
		n, err := p.replicas(t, "tenant1-stream-ingest")
		return n == 1, fmt.Sprintf("%d replicas, err %v", n, err)
	})

	// The idle tenant: scaled to zero, then woken by its next records.
	harness.Until(t, time.Minute, "idle tenant2-stream-ingest scaled to zero", func() (bool, string) {
		n, err := p.replicas(t, "tenant2-stream-ingest")
		return n == 0, fmt.Sprintf("%d replicas, err %v", n, err)
	})
	p.publish(t, "ingest.tenant2.covid", 0, 50)
	harness.Until(t, 2*time.Minute, "tenant2's records stored after the wake-up", func() (bool, string) {
		n, err := p.count("tenant2", "covid_daily")
		return n == 50, fmt.Sprintf("%d of 50 stored, err %v", n, err)
	})
	if n, _ := p.count("tenant1", "covid_daily"); n != burst {
		t.Errorf("tenant1 holds %d documents, want %d (nothing lost or duplicated)", n, burst)
	}
}
