package datasets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// ownAndPlatform is a tenant whose dataset byapp is ingested by its own
// batch app (functions/tenant2-batch, which writes ecdc_by_app in its own
// shape) and whose dataset cases is the platform's.
func ownAndPlatform(name string) string {
	return "tenant: " + name + "\n" + streamLimits + `datasets:
  - name: byapp
    sink:
      collection: ecdc_by_app
      schema: [{name: geo_id, type: string, required: true}]
    apps: {batch: own}
` + casesDataset("")
}

// invocations sums the connector's invocations of function fn (its
// name.namespace) by answer code.
func invocations(m map[string]float64, fn string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if !strings.HasPrefix(k, "mysimbdp_connector_invocations_total{") || !strings.Contains(k, contract.MetricLabelFunction+`="`+fn+`"`) {
			continue
		}
		_, code, _ := strings.Cut(k, `code="`)
		code, _, _ = strings.Cut(code, `"`)
		out[code] += v
	}
	return out
}

// TestOwnAppTakesItsDataset: the tenant deploys its own batch app for
// dataset byapp through the gateway, declaring exactly what `tenant
// apply` printed; a file in incoming/byapp/ goes to it alone, a file in
// incoming/cases/ to the platform's app alone, and each lands in its own
// collection only.
func TestOwnAppTakesItsDataset(t *testing.T) {
	e := platform(t)
	const name, fn = "dsown", "dsown-byapp"
	ctx := t.Context()
	creds, out := e.apply(t, name, ownAndPlatform(name))

	// What apply says the tenant's own app must declare.
	const wantLine = "    files    incoming/byapp/ -> own app: deploy it with label com.mysimbdp.tenant=dsown and annotation topic=s3:dsown/incoming/byapp/\n"
	if !strings.Contains(out, wantLine) {
		t.Fatalf("tenant apply's output lacks %q:\n%s", wantLine, out)
	}
	_, topic, _ := strings.Cut(wantLine, "annotation topic=")
	topic = strings.TrimSpace(topic)
	for _, want := range []string{
		"  functions  dsown-batch-ingest, dsown-stream-ingest\n",
		"    files    incoming/cases/ -> platform app (dsown-batch-ingest)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tenant apply's output lacks %q:\n%s", want, out)
		}
	}

	// The tenant's app: tenant2's (functions/tenant2-batch), built as
	// stack.yml's tenant2-batch-ingest is, under an image of the
	// tenant's, and deployed through the gateway with the tenant's label,
	// the printed topic, the tenant's credentials secret and an
	// invocation key of its own (README: the key is HMAC-SHA256 of
	// "mysimbdp-invoke/<function>" under the platform's master key; the
	// connector signs every call with it).
	st, err := stack.LoadWith(filepath.Join(e.repo, "stack.yml"), func(v string) (string, bool) {
		if v == contract.EnvS3Endpoint {
			return e.st.Endpoints.MinIO, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	app := st.Functions["tenant2-batch-ingest"]
	app.Image = name + "/byapp:1"
	st.Functions["tenant2-batch-ingest"] = app
	b := &fnbuild.Builder{Stack: st, ImagesDir: filepath.Join(e.data, "images"), BuildDir: filepath.Join(e.tmp, "build-"+name)}
	if _, err := b.Build(ctx, "tenant2-batch-ingest"); err != nil {
		t.Fatal(err)
	}
	d, err := st.Deployment("tenant2-batch-ingest")
	if err != nil {
		t.Fatal(err)
	}
	d.Service = fn
	(*d.Labels)[contract.LabelTenant] = name
	(*d.Annotations)[contract.AnnotationTopic] = topic
	keySecret := contract.InvokeKeySecret(fn)
	d.Secrets = []string{contract.CredentialsSecret(name), keySecret}
	d.EnvVars[contract.EnvCredentialsSecret] = contract.CredentialsSecret(name)
	d.EnvVars[contract.EnvInvokeKeySecret] = keySecret
	d.EnvVars["TENANT2_BUCKET"], d.EnvVars["TENANT2_DB"] = name, name
	key := invokesig.FunctionKey([]byte(e.st.Creds.InvokeMasterKey), fn)
	if err := e.gw.SetSecret(ctx, types.Secret{Name: keySecret, RawValue: key}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Deploy(ctx, d); err != nil {
		t.Fatalf("deploy %s: %v", fn, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.gw.Delete(ctx, fn, ""); err != nil {
			t.Errorf("remove %s: %v", fn, err)
		}
	})

	// Up, and in the connector's routes: every function with a topic is
	// subscribed (none is misconfigured), the tenant's app among them.
	harness.Until(t, time.Minute, fn+" ready and routed to", func() (bool, string) {
		fns, err := e.gw.Functions(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		withTopic, ready := 0, false
		for _, f := range fns {
			if f.Annotations != nil && strings.TrimSpace((*f.Annotations)[contract.AnnotationTopic]) != "" {
				withTopic++
			}
			if f.Name == fn {
				ready = f.AvailableReplicas >= 1
			}
		}
		subscribed := e.metrics(t)["mysimbdp_connector_subscribed_functions"]
		return ready && int(subscribed) == withTopic, fmt.Sprintf("%s ready %v; subscribed %v of %d functions with a topic", fn, ready, subscribed, withTopic)
	})

	// One file for each dataset, with the tenant's keys.
	const ownFrom, ownTo, platFrom, platTo = 0, 60, 200, 290
	s3 := e.s3As(t, creds)
	for _, f := range []struct {
		key      string
		from, to int
	}{{"incoming/byapp/day.csv", ownFrom, ownTo}, {"incoming/cases/day.csv", platFrom, platTo}} {
		body := ecdc.CSV(f.from, f.to)
		if _, err := s3.PutObject(ctx, name, f.key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("upload %s: %v", f.key, err)
		}
	}
	var ownSum, platSum int64
	for i := ownFrom; i < ownTo; i++ {
		ownSum += ecdcInt(i, "cases")
	}
	for i := platFrom; i < platTo; i++ {
		platSum += ecdcInt(i, "cases")
	}

	// The own app's rows, in its own shape and collection.
	harness.Until(t, 2*time.Minute, "the byapp file in ecdc_by_app", func() (bool, string) {
		n := e.count(t, name, "ecdc_by_app", nil)
		return n == ownTo-ownFrom, fmt.Sprint(n, " rows")
	})
	byApp := e.docs(t, name, "ecdc_by_app", nil)
	if got := sumInt(byApp, "cases"); got != ownSum {
		t.Errorf("ecdc_by_app: sum of cases %d, want %d", got, ownSum)
	}
	for _, doc := range byApp {
		if doc["ingested_by"] != "tenant2-app" || !strings.Contains(fmt.Sprint(doc["_id"]), ":2020-") {
			t.Errorf("a row of ecdc_by_app not in the own app's shape: %v", doc)
			break
		}
	}
	// The platform's rows, in the cases dataset's collection.
	e.waitObject(t, name, "processed/cases/day.csv.report.json", 2*time.Minute)
	var rep contract.BatchReport
	if err := json.Unmarshal(e.readObject(t, name, "processed/cases/day.csv.report.json"), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != contract.StatusDone || rep.Dataset != "cases" || rep.RowsOK != platTo-platFrom {
		t.Errorf("cases file report: %s, dataset %q, %d rows; want done, cases, %d", rep.Status, rep.Dataset, rep.RowsOK, platTo-platFrom)
	}
	covid := e.docs(t, name, "covid_daily", nil)
	if int64(len(covid)) != platTo-platFrom || sumInt(covid, "cases") != platSum {
		t.Errorf("covid_daily: %d rows, sum of cases %d; want %d, %d (the cases file only)", len(covid), sumInt(covid, "cases"), platTo-platFrom, platSum)
	}
	// Neither app touched the other's: exact counts above, and nothing of
	// the own app's shape in covid_daily or quarantined by the platform.
	if n := e.count(t, name, "covid_daily", bson.D{{Key: "ingested_by", Value: bson.D{{Key: "$exists", Value: true}}}}); n != 0 {
		t.Errorf("%d rows of the own app's in covid_daily", n)
	}
	for _, coll := range []string{"covid_daily_rejected", "ecdc_by_app_rejected"} {
		if n := e.count(t, name, coll, nil); n != 0 {
			t.Errorf("%s holds %d rows, want none", coll, n)
		}
	}
	// The own app leaves its file where it is (moving it is its
	// business); the platform's app never had it.
	if ok, _ := e.exists(t, name, "incoming/byapp/day.csv"); !ok {
		t.Error("incoming/byapp/day.csv was moved: the platform's app had it")
	}
	for _, key := range []string{"processed/byapp/day.csv.report.json", "rejected/byapp/day.csv.report.json"} {
		if ok, _ := e.exists(t, name, key); ok {
			t.Errorf("%s exists: the platform's app had the own app's file", key)
		}
	}
	m := e.metrics(t)
	own, plat := invocations(m, fn+".openfaas-fn"), invocations(m, "dsown-batch-ingest.openfaas-fn")
	if len(own) != 1 || own["200"] != 1 {
		t.Errorf("the connector invoked %s %v times by answer; want once, 200", fn, own)
	}
	if len(plat) != 1 || plat["200"] != 1 {
		t.Errorf("the connector invoked dsown-batch-ingest %v times by answer; want once, 200 (the cases file only)", plat)
	}

	// Its report, as the tenant gets it calling its app with the event
	// again (signed by the CLI, as the connector does): done, every row,
	// and, the app being idempotent, nothing added.
	ev := events.S3Event{Records: []events.S3EventRecord{{EventName: "s3:ObjectCreated:Put", S3: events.S3Entity{
		Bucket: events.S3Bucket{Name: name},
		Object: events.S3Object{Key: url.QueryEscape("incoming/byapp/day.csv")},
	}}}}
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := e.mysimbdp(t, bytes.NewReader(body), "invoke", "--content-type", "application/json", fn)
	if err != nil {
		t.Fatalf("mysimbdp invoke %s: %v\n%s", fn, err, answer)
	}
	var appRep struct {
		Key          string `json:"key"`
		Status       string `json:"status"`
		RowsOK       int64  `json:"rows_ok"`
		RowsRejected int64  `json:"rows_rejected"`
	}
	if err := json.Unmarshal([]byte(answer), &appRep); err != nil || appRep.Status != "done" || appRep.Key != "incoming/byapp/day.csv" || appRep.RowsOK != ownTo-ownFrom || appRep.RowsRejected != 0 {
		t.Errorf("the own app's report %s (%v): want done, incoming/byapp/day.csv, %d rows", answer, err, ownTo-ownFrom)
	}
	if n := e.count(t, name, "ecdc_by_app", nil); n != ownTo-ownFrom {
		t.Errorf("ecdc_by_app holds %d rows after the event came again, want %d", n, ownTo-ownFrom)
	}
}
