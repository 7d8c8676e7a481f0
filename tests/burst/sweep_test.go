package burst

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/infra/connector"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestSweep: a file put into incoming/ whose notification never comes is
// swept in and ingested; a file whose event is pending (held back by the
// tenant's quota past the sweep's age) and a file already done are not
// announced again, and nothing is ingested twice.
func TestSweep(t *testing.T) {
	const tenant = "noloss"
	r := newRig(t, tenant, profile(tenant), func(c *connector.Config) {
		c.SweepInterval, c.SweepAge = time.Second, 3*time.Second
	})

	// Done before anything else, through its own event.
	r.upload("incoming/a.csv", ecdc.CSV(0, 100))
	r.awaitAll([]string{"incoming/a.csv"}, 90*time.Second)

	// The tenant is held back by its quota longer than the sweep's age:
	// c.csv's event keeps waiting, and must not be announced again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := quota.ControlKV(ctx, r.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	hold := 12 * time.Second
	if err := quota.Put(ctx, kv, quota.Decision{Tenant: tenant, State: quota.Throttled, Until: time.Now().Add(hold),
		Reason: "held back by the test", DecidedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r.upload("incoming/c.csv", ecdc.CSV(200, 300))
	// No notification: only the sweep can bring it in.
	r.put("incoming/b.csv", ecdc.CSV(100, 200))

	keys := []string{"incoming/a.csv", "incoming/b.csv", "incoming/c.csv"}
	reps := r.awaitAll(keys, 90*time.Second)
	// Let the sweep look a few more times at a folder with nothing left
	// in it, and at what it announced.
	sweeps := r.metric("mysimbdp_connector_sweeps_total")
	harness.Until(t, 30*time.Second, "three more sweeps", func() (bool, string) {
		n := r.metric("mysimbdp_connector_sweeps_total")
		return n >= sweeps+3, fmt.Sprintf("%v sweeps, from %v", n, sweeps)
	})

	for _, k := range keys {
		if rep := reps[k]; rep.Status != contract.StatusDone || rep.RowsOK != 100 {
			t.Errorf("%s: %s with %d rows, want done with 100: %s", k, rep.Status, rep.RowsOK, rep.Error)
		}
	}
	if d := r.metric(`mysimbdp_connector_deferrals_total{function_name="quota"}`); d < 1 {
		t.Error("c.csv was never held back by the quota: the test did not keep an event pending")
	}
	if n := r.metric(`mysimbdp_connector_swept_total{tenant="` + tenant + `"}`); n != 1 {
		t.Errorf("%v objects announced again, want 1 (b.csv only)", n)
	}
	if n := r.metric("mysimbdp_connector_sweep_errors_total"); n != 0 {
		t.Errorf("%v sweep errors: the connector's list-only MinIO user should suffice", n)
	}
	if n := r.metric(`mysimbdp_connector_invocations_total{code="200",function_name="` + r.fnID + `"}`); n != 3 {
		t.Errorf("%v invocations answered 200, want 3: one per file", n)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	n, err := r.db.Database(tenant).Collection("covid_daily").CountDocuments(cctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 300 {
		t.Errorf("%d documents, want 300: each file's rows once", n)
	}
}
