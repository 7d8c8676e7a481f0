package noloss

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

func profile(tenant string) string {
	return ecdc.Profile(tenant, ecdc.SourceNames, `batch:
  max_file_size: 64MiB
  formats: [csv]
`)
}

// upload puts a file into the tenant's incoming/ and, when notify is
// set, publishes its event to the S3 events stream as MinIO does.
func (r *rig) upload(key string, data []byte, notify bool) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := shared.s3.PutObject(ctx, r.tenant, key, strings.NewReader(string(data)), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		r.t.Fatalf("put %s: %v", key, err)
	}
	if !notify {
		return
	}
	ev := events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.0", EventSource: "minio:s3", EventName: "s3:ObjectCreated:Put", EventTime: time.Now().UTC(),
		S3: events.S3Entity{Bucket: events.S3Bucket{Name: r.tenant},
			Object: events.S3Object{Key: url.QueryEscape(key), Size: info.Size, ETag: info.ETag}},
	}}}
	body, err := json.Marshal(ev)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.js.Publish(ctx, contract.S3EventsSubject, body); err != nil {
		r.t.Fatalf("publish the event of %s: %v", key, err)
	}
}

// awaitDone waits until every key's report is in processed/, and returns
// the reports.
func (r *rig) awaitDone(keys []string, within time.Duration) map[string]contract.BatchReport {
	r.t.Helper()
	out := map[string]contract.BatchReport{}
	harness.Until(r.t, within, "every file to reach processed/", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range keys {
			if _, ok := out[k]; ok {
				continue
			}
			dst := strings.Replace(k, "incoming/", "processed/", 1) + ".report.json"
			obj, err := shared.s3.GetObject(ctx, r.tenant, dst, minio.GetObjectOptions{})
			if err != nil {
				continue
			}
			var rep contract.BatchReport
			if err := json.NewDecoder(obj).Decode(&rep); err == nil {
				out[k] = rep
			}
			obj.Close()
		}
		return len(out) == len(keys), fmt.Sprintf("%d of %d files done", len(out), len(keys))
	})
	return out
}

// TestSweep: a file put into incoming/ whose notification never comes is
// swept in and ingested; a file whose event is pending (held back by the
// tenant's quota past the sweep's age) and a file already done are not
// announced again, and nothing is ingested twice.
func TestSweep(t *testing.T) {
	const tenant = "noloss"
	r := newRig(t, tenant, profile(tenant), nil)

	// Done before anything else, through its own event.
	r.upload("incoming/a.csv", ecdc.CSV(0, 100), true)
	r.awaitDone([]string{"incoming/a.csv"}, 90*time.Second)

	// The tenant is held back by its quota longer than the sweep's age:
	// c.csv's event keeps waiting, and must not be announced again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := quota.ControlKV(ctx, r.js)
	if err != nil {
		t.Fatal(err)
	}
	hold := 12 * time.Second
	if err := quota.Put(ctx, kv, quota.Decision{Tenant: tenant, State: quota.Throttled, Until: time.Now().Add(hold),
		Reason: "held back by the test", DecidedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r.upload("incoming/c.csv", ecdc.CSV(200, 300), true)
	// No notification: only the sweep can bring it in.
	r.upload("incoming/b.csv", ecdc.CSV(100, 200), false)

	keys := []string{"incoming/a.csv", "incoming/b.csv", "incoming/c.csv"}
	reps := r.awaitDone(keys, 90*time.Second)
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
	if d := r.metric(`mysimbdp_connector_deferrals_total{function="quota"}`); d < 1 {
		t.Error("c.csv was never held back by the quota: the test did not keep an event pending")
	}
	if n := r.metric(`mysimbdp_connector_swept_total{tenant="` + tenant + `"}`); n != 1 {
		t.Errorf("%v objects announced again, want 1 (b.csv only)", n)
	}
	if n := r.metric("mysimbdp_connector_sweep_errors_total"); n != 0 {
		t.Errorf("%v sweep errors: the connector's list-only MinIO user should suffice", n)
	}
	if n := r.metric(`mysimbdp_connector_invocations_total{code="200",function="` + r.fnID + `"}`); n != 3 {
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
