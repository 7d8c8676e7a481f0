package checker

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestRow(t *testing.T) {
	day := time.Date(2020, 12, 14, 0, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	oid, _ := bson.ObjectIDFromHex("5f1d7c3e9b1e8a3c4d5e6f70")
	dec, err := bson.ParseDecimal128("15.25")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		doc  bson.D
		want string // "" with err
		err  string
	}{
		{name: "an ECDC row, in order", doc: bson.D{{Key: "dateRep", Value: day}, {Key: "cases", Value: int64(746)}, {Key: "countriesAndTerritories", Value: "Afghanistan"}, {Key: "popData2019", Value: nil}, {Key: "rate", Value: 1.5}, {Key: "ok", Value: true}},
			want: `{"dateRep":"2020-12-14T00:00:00Z","cases":746,"countriesAndTerritories":"Afghanistan","popData2019":null,"rate":1.5,"ok":true}`},
		{name: "a datetime in another zone, in UTC", doc: bson.D{{Key: "at", Value: time.Date(2020, 12, 14, 1, 30, 0, 5, paris)}}, want: `{"at":"2020-12-14T00:30:00.000000005Z"}`},
		{name: "BSON dates, ids and decimals", doc: bson.D{{Key: "d", Value: bson.NewDateTimeFromTime(day)}, {Key: "_id", Value: oid}, {Key: "n", Value: dec}},
			want: `{"d":"2020-12-14T00:00:00Z","_id":"5f1d7c3e9b1e8a3c4d5e6f70","n":"15.25"}`},
		{name: "nested", doc: bson.D{{Key: "a", Value: bson.A{int32(1), "x", bson.D{{Key: "b", Value: day}}}}}, want: `{"a":[1,"x",{"b":"2020-12-14T00:00:00Z"}]}`},
		{name: "names needing escapes", doc: bson.D{{Key: `a"b<`, Value: "</script>"}}, want: `{"a\"b\u003c":"\u003c/script\u003e"}`},
		{name: "empty", doc: bson.D{}, want: `{}`},
		{name: "NaN", doc: bson.D{{Key: "x", Value: math.NaN()}}, err: "line 7: field x: NaN has no JSON form"},
		{name: "infinity in an array", doc: bson.D{{Key: "x", Value: bson.A{1.0, math.Inf(1)}}}, err: "field x: element 1: +Inf has no JSON form"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			row, err := Row(7, tt.doc)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if row.Line != 7 || string(row.Doc) != tt.want {
				t.Fatalf("got line %d %s, want 7 %s", row.Line, row.Doc, tt.want)
			}
			// What the checker receives is a valid request row.
			if err := (contract.CheckRequest{Tenant: "t", Dataset: "d", Rows: []contract.CheckRow{row}}).Validate(); err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(row.Doc, &m); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, contract.InvokeKeySecret("tenant1-checker")), []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, contract.InvokeKeySecret("tenant1-empty")), []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, fn string
		vars     map[string]string
		want     Config
		err      string
	}{
		{name: "in the cluster", fn: "tenant1-checker",
			vars: map[string]string{"MYSIMBDP_CHECKER_FUNCTIONS": "tenant1-other, tenant1-checker"},
			want: Config{GatewayURL: contract.DefaultClusterGatewayURL, Function: "tenant1-checker", Key: []byte("k3y")}},
		{name: "a gateway given, TLS", fn: "tenant1-checker",
			vars: map[string]string{"MYSIMBDP_CHECKER_FUNCTIONS": "tenant1-checker", "OPENFAAS_URL": "https://127.0.0.1:9999", "MYSIMBDP_TLS_CA_FILE": "mysimbdp-tls-ca"},
			want: Config{GatewayURL: "https://127.0.0.1:9999", Function: "tenant1-checker", Key: []byte("k3y"), CAFile: secrets + "/mysimbdp-tls-ca"}},
		{name: "not listed", fn: "tenant1-checker", vars: map[string]string{"MYSIMBDP_CHECKER_FUNCTIONS": "tenant1-other"}, err: "was given no key to invoke it"},
		{name: "nothing listed", fn: "tenant1-checker", err: "was given no key to invoke it"},
		{name: "listed, no secret", fn: "tenant1-other", vars: map[string]string{"MYSIMBDP_CHECKER_FUNCTIONS": "tenant1-other"}, err: "read its invocation key"},
		{name: "an empty secret", fn: "tenant1-empty", vars: map[string]string{"MYSIMBDP_CHECKER_FUNCTIONS": "tenant1-empty"}, err: "is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"MYSIMBDP_SECRETS_DIR": secrets}
			for k, v := range tt.vars {
				vars[k] = v
			}
			env, err := contract.FromEnv(func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			got, err := ConfigFromEnv(env, tt.fn)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.GatewayURL != tt.want.GatewayURL || got.Function != tt.want.Function || string(got.Key) != string(tt.want.Key) || got.CAFile != tt.want.CAFile {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
