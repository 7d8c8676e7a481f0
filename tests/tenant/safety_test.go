package tenant

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRemoveRefuses: `tenant remove` drops only a tenant's own data: never
// a reserved database, a tenant it does not know only with --force.
func TestRemoveRefuses(t *testing.T) {
	e := platform(t)
	ctx := t.Context()
	guard := e.pl.Mongo.Database("mysimbdp").Collection("remove_guard")
	if _, err := guard.InsertOne(ctx, bson.D{{Key: "keep", Value: true}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mysimbdp"}, "no such tenant"},
		{[]string{"mysimbdp", "--force"}, `database "mysimbdp" is reserved for the platform`},
		{[]string{"admin", "--force"}, `database "admin" is reserved`},
		{[]string{"config", "--force", "--keep-data"}, `database "config" is reserved`},
		{[]string{"Not_A_Tenant", "--force"}, "is not a tenant id"},
	} {
		out, err := e.mysimbdp(t, append([]string{"tenant", "remove"}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("tenant remove %v: %v, want refused with %q:\n%s", tc.args, err, tc.want, out)
		}
	}
	if n, err := guard.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("the platform database after the refused removes: %d documents (%v), want 1", n, err)
	}

	// A name no profile was applied under: refused, then with --force its
	// bucket and database go.
	if err := e.pl.S3.MakeBucket(ctx, "lima", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pl.Mongo.Database("lima").Collection("c").InsertOne(ctx, bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.mysimbdp(t, "tenant", "remove", "lima")
	if err == nil || !strings.Contains(out, "no such tenant") || !strings.Contains(out, "--force") {
		t.Errorf("tenant remove of an unknown tenant: %v, want refused naming --force:\n%s", err, out)
	}
	if ok, err := e.pl.S3.BucketExists(ctx, "lima"); !ok || err != nil {
		t.Errorf("refused remove: bucket lima %v (%v), want kept", ok, err)
	}
	if out, err := e.mysimbdp(t, "tenant", "remove", "lima", "--force"); err != nil {
		t.Fatalf("tenant remove --force: %v\n%s", err, out)
	}
	e.wantNothingOf(t, "lima", false)
}

// TestKeptDataStaysTheTenants: data kept by `tenant remove --keep-data`
// is its tenant's: another tenant naming the database is refused unless
// it adopts it, and the same tenant re-applied finds its rows.
func TestKeptDataStaysTheTenants(t *testing.T) {
	e := platform(t)
	ctx := t.Context()
	mike := profileFile(t, "mike", "")
	e.apply(t, mike)
	rows := []any{bson.D{{Key: "n", Value: 1}}, bson.D{{Key: "n", Value: 2}}}
	if _, err := e.pl.Mongo.Database("mike").Collection("covid_daily").InsertMany(ctx, rows); err != nil {
		t.Fatal(err)
	}
	removeKeep := func() {
		t.Helper()
		if out, err := e.mysimbdp(t, "tenant", "remove", "mike", "--keep-data"); err != nil {
			t.Fatalf("tenant remove --keep-data: %v\n%s", err, out)
		}
	}
	removeKeep()

	// A new tenant naming mike's kept database.
	oscar := filepath.Join(t.TempDir(), "oscar.yaml")
	if err := os.WriteFile(oscar, []byte(strings.Replace(tenantProfile("oscar", ""), "sink:\n", "sink:\n  database: mike\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e.mysimbdp(t, "tenant", "apply", "-f", oscar)
	if err == nil || !strings.Contains(out, `"mike" is data that tenant mike kept`) || !strings.Contains(out, "--adopt") {
		t.Errorf("apply of a profile naming a kept database: %v, want refused naming --adopt:\n%s", err, out)
	}
	e.wantNothingOf(t, "oscar", false)

	// mike itself comes back to its rows, without --adopt.
	e.apply(t, mike)
	if n := e.countRows(t, "mike", "covid_daily"); n != 2 {
		t.Errorf("mike re-applied finds %d rows, want 2", n)
	}
	removeKeep()

	// With --adopt oscar takes the database over; mike then cannot have it.
	if out, err := e.mysimbdp(t, "tenant", "apply", "-f", oscar, "--adopt"); err != nil {
		t.Fatalf("tenant apply --adopt: %v\n%s", err, out)
	}
	if n := e.countRows(t, "mike", "covid_daily"); n != 2 {
		t.Errorf("oscar adopted %d rows, want 2", n)
	}
	if out, err := e.mysimbdp(t, "tenant", "apply", "-f", mike); err == nil || !strings.Contains(out, `"mike" is tenant oscar's database`) {
		t.Errorf("mike re-applied after oscar adopted its database: %v\n%s", err, out)
	}
	// mike's kept bucket and stream are still its own to remove.
	for _, name := range []string{"oscar", "mike"} {
		if out, err := e.mysimbdp(t, "tenant", "remove", name); err != nil {
			t.Fatalf("tenant remove %s: %v\n%s", name, err, out)
		}
		e.wantNothingOf(t, name, false)
	}
	dbs, err := e.pl.Mongo.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(dbs, "mike") {
		t.Error("database mike still there after both tenants were removed")
	}
}

// TestFunctionListingHoldsNoSecret: after `tenant apply` the gateway's
// function listing and each function's status answer hold no credential
// of the tenant or of the platform: credentials reach functions as
// secrets, not environment variables.
func TestFunctionListingHoldsNoSecret(t *testing.T) {
	e := platform(t)
	papa, _ := e.apply(t, profileFile(t, "papa", ""))
	secrets := map[string]string{
		"papa's S3 secret key":       papa.S3SecretKey,
		"papa's NATS password":       papa.NATSPassword,
		"papa's MongoDB password":    papa.MongoPassword,
		"the platform NATS password": e.st.Creds.NATSPassword,
		"MinIO's root password":      e.st.Creds.MinIOPassword,
		"the gateway password":       e.st.Creds.GatewayPassword,
	}
	get := func(path string) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.st.Endpoints.Gateway+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(e.st.Creds.GatewayUser, e.st.Creds.GatewayPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v\n%s", path, resp.StatusCode, err, body)
		}
		return string(body)
	}
	list := get("/system/functions")
	answers := map[string]string{"/system/functions": list}
	var fns []types.FunctionStatus
	if err := json.Unmarshal([]byte(list), &fns); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fn := range fns {
		names = append(names, fn.Name)
		answers["/system/function/"+fn.Name] = get("/system/function/" + fn.Name)
	}
	for _, want := range []string{"papa-batch-ingest", "papa-stream-ingest", "stats", "scaler"} {
		if !slices.Contains(names, want) {
			t.Errorf("the listing lacks %s: %v", want, names)
		}
	}
	for path, body := range answers {
		for what, v := range secrets {
			if v != "" && strings.Contains(body, v) {
				t.Errorf("GET %s holds %s", path, what)
			}
		}
	}
}
