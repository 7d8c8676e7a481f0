package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/connector/stream"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
)

// publishRecords publishes ECDC rows [from, to) to subject (ecdc.Publish)
// and fails the test if one is not stored.
func publishRecords(ctx context.Context, t *testing.T, js jetstream.JetStream, subject string, from, to int) {
	t.Helper()
	if err := ecdc.Publish(ctx, js, subject, from, to); err != nil {
		t.Fatal(err)
	}
}

func count(ctx context.Context, c *mongo.Collection) (int64, error) {
	return c.CountDocuments(ctx, bson.D{})
}

// TestStreamRecordsLandOnceAndPauseHoldsThem is the stream flow end to end
// on `mysimbdp up`: two tenants publish ECDC records one message each on
// their subjects; the connector delivers them in batches to each tenant's
// stream function; every record is stored exactly once in its tenant's
// database; a poison record is dead-lettered with its reason while the rest
// go on; a paused tenant's records wait in its stream and arrive on resume.
func TestStreamRecordsLandOnceAndPauseHoldsThem(t *testing.T) {
	f := newUpFlags(t)
	f.extra = []string{"--max-attempts", "2", "--retry-backoff", "100ms"}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	startUp(t, f)
	e := endpoints(t, f)

	nc, err := nats.Connect(e.NATS)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	db, err := mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Disconnect(context.Background())
	tenant1 := db.Database("tenant1").Collection("covid_daily")
	tenant2 := db.Database("tenant2").Collection("ecdc_cases")

	publishRecords(ctx, t, js, "ingest.tenant1.covid", 0, 2000)
	publishRecords(ctx, t, js, "ingest.tenant2.covid", 0, 1000)
	// A poison record: a whole row, but its cases is not a number.
	poison := ecdc.Fields(99999)
	poison["cases"] = "many"
	raw, _ := json.Marshal(poison)
	if _, err := js.Publish(ctx, "ingest.tenant1.covid", raw); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		coll *mongo.Collection
		n    int64
	}{{tenant1, 2000}, {tenant2, 1000}} {
		waitFor(t, want.coll.Database().Name()+" has every record once", 3*time.Minute, func() error {
			n, err := count(ctx, want.coll)
			if err != nil || n != want.n {
				return fmt.Errorf("%d documents (%v), want %d", n, err, want.n)
			}
			return nil
		})
	}

	// A forged batch, posted straight to the gateway with its basic auth
	// but unsigned, is refused before the function runs and stores
	// nothing; the connector's signed batches above were stored.
	creds, err := localstack.LoadOrCreateCredentials(f.data)
	if err != nil {
		t.Fatal(err)
	}
	forged := `{"tenant":"tenant1","records":[{"id":"forged-1","subject":"ingest.tenant1.covid","data":"e30="}]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.Gateway+"/function/tenant1-stream-ingest", strings.NewReader(forged))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(creds.GatewayUser, creds.GatewayPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "unsigned invocation") {
		t.Fatalf("forged batch: %d %q, want 401 unsigned invocation", resp.StatusCode, body)
	}
	if n, err := count(ctx, tenant1); err != nil || n != 2000 {
		t.Fatalf("after the forged batch tenant1 has %d documents (%v), want 2000", n, err)
	}

	// The poison record is dead-lettered with its reason.
	waitFor(t, "the poison record is in DEADLETTER", time.Minute, func() error {
		s, err := js.Stream(ctx, contract.DeadLetterStream)
		if err != nil {
			return err
		}
		m, err := s.GetLastMsgForSubject(ctx, contract.DeadLetterSubject(contract.DeadLetterSubjectPrefix, "tenant1"))
		if err != nil {
			return err
		}
		if reason := m.Header.Get(contract.DeadLetterHeaderReason); !containsAll(reason, "cases", "many") {
			return fmt.Errorf("reason %q does not name the field and value", reason)
		}
		return nil
	})

	// Pause: records published now stay in the stream.
	if out, err := runCLI(t, f, "", "pause", "tenant1"); err != nil {
		t.Fatalf("mysimbdp pause tenant1: %v\n%s", err, out)
	}
	consumer, err := js.Consumer(ctx, "ingest-tenant1", stream.ConsumerName("tenant1-stream-ingest", "openfaas-fn"))
	if err != nil {
		t.Fatal(err)
	}
	// The pause has taken effect once the connector says so and no pull of
	// its is waiting on the stream; records published before that could
	// still go out.
	waitFor(t, "the connector has paused tenant1", 30*time.Second, func() error {
		resp, err := http.Get(e.Gateway + "/connector/metrics")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `mysimbdp_connector_tenant_paused{tenant="tenant1"} 1`) {
			return errors.New("not paused yet")
		}
		ci, err := consumer.Info(ctx)
		if err != nil || ci.NumWaiting != 0 {
			return fmt.Errorf("pulls waiting: %v (%v)", ci, err)
		}
		return nil
	})
	publishRecords(ctx, t, js, "ingest.tenant1.covid", 2000, 2100)
	waitFor(t, "the 100 records wait in the stream", 30*time.Second, func() error {
		ci, err := consumer.Info(ctx)
		if err != nil || ci.NumPending != 100 {
			return fmt.Errorf("pending %v (%v), want 100", ci, err)
		}
		return nil
	})
	// Observed for a second: nothing of them is stored while paused.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n, err := count(ctx, tenant1); err != nil || n != 2000 {
			t.Fatalf("paused tenant1 has %d documents (%v), want still 2000", n, err)
		}
	}
	if out, err := runCLI(t, f, "", "resume", "tenant1"); err != nil {
		t.Fatalf("mysimbdp resume tenant1: %v\n%s", err, out)
	}
	waitFor(t, "the records published while paused are stored after resume", time.Minute, func() error {
		n, err := count(ctx, tenant1)
		if err != nil || n != 2100 {
			return fmt.Errorf("%d documents (%v), want 2100", n, err)
		}
		return nil
	})
	if n, err := count(ctx, tenant2); err != nil || n != 1000 {
		t.Fatalf("tenant2 has %d documents (%v), want its 1000 only", n, err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
