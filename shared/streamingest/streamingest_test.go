package streamingest

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/records"
)

const testProfile = `tenant: unit1
sink:
  collection: c
  schema:
    - {name: a, type: int, required: true}
`

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "unit1-profile"), []byte(testProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	full := map[string]string{"MYSIMBDP_PROFILE": testProfile, "MYSIMBDP_MONGO_URI": "mongodb://h", "MYSIMBDP_SECRETS_DIR": dir}
	for _, tc := range []struct {
		name    string
		set     map[string]string
		wantErr string
	}{
		{"complete", nil, ""},
		{"no S3 needed", map[string]string{"MYSIMBDP_S3_ENDPOINT": ""}, ""},
		{"no profile", map[string]string{"MYSIMBDP_PROFILE": ""}, "MYSIMBDP_PROFILE is empty"},
		{"profile secret", map[string]string{"MYSIMBDP_PROFILE": "", "MYSIMBDP_PROFILE_SECRET": "unit1-profile"}, ""},
		{"missing secret", map[string]string{"MYSIMBDP_PROFILE": "", "MYSIMBDP_PROFILE_SECRET": "nope"}, "MYSIMBDP_PROFILE_SECRET=nope"},
		{"no mongo", map[string]string{"MYSIMBDP_MONGO_URI": ""}, "MYSIMBDP_MONGO_URI is not set"},
		{"trailing dot", map[string]string{"MYSIMBDP_REPORT_SUBJECT": "r."}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromEnv(func(k string) string {
				if v, ok := tc.set[k]; ok {
					return v
				}
				return full[k]
			})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if string(c.Profile) != testProfile || c.PlatformDB != contract.DefaultPlatformDB || strings.HasSuffix(c.ReportSubject, ".") {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	for _, tc := range []struct {
		e    records.RowError
		want string
	}{
		{records.RowError{Line: 3, Unit: "message", Field: "cases", Reason: `"abc" is not an int`}, `field cases: "abc" is not an int`},
		{records.RowError{Line: 4, Unit: "message", Reason: "not valid JSON: unexpected EOF"}, "not valid JSON: unexpected EOF"},
	} {
		if got := rowReason(&tc.e); got != tc.want {
			t.Errorf("rowReason = %q, want %q", got, tc.want)
		}
	}
	if got := oneLine("a\r\n  b\nc"); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
}

// Batches that cannot be answered record by record are refused before
// anything is written (New does not dial, so no database is needed).
func TestHandleRefuses(t *testing.T) {
	in, err := New(Config{Profile: []byte(testProfile), MongoURI: "mongodb://127.0.0.1:1"}, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(t.Context()) })
	for _, tc := range []struct {
		name string
		b    contract.Batch
		want error
	}{
		{"other tenant", contract.Batch{Tenant: "unit2", Records: []contract.Record{{ID: "1", Data: []byte(`{"a":1}`)}}}, ErrForbidden},
		{"record without id", contract.Batch{Tenant: "unit1", Records: []contract.Record{{ID: "1"}, {Data: []byte(`{"a":1}`)}}}, ErrBadBatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := in.Handle(t.Context(), tc.b); !errors.Is(err, tc.want) {
				t.Errorf("Handle: %v, want %v", err, tc.want)
			}
		})
	}
	// Poison only: nothing to write, so no database is touched.
	resp, err := in.Handle(t.Context(), contract.Batch{Tenant: "unit1", Records: []contract.Record{
		{ID: "p1", Subject: "ingest.unit1.x", Data: []byte(`{"a":`)},
		{ID: "p2", Subject: "ingest.unit1.x", Data: []byte(`{"a":"x"}`)},
		{ID: "p3", Subject: "ingest.unit2.x", Data: []byte(`{"a":1}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"p1: not valid JSON", `p2: field a: "x" is not an int`, "p3: subject ingest.unit2.x is not tenant unit1's"}
	if len(resp.BatchItemFailures) != len(want) {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
	for i, f := range resp.BatchItemFailures {
		if got := f.ItemIdentifier + ": " + f.Reason; !strings.HasPrefix(got, want[i]) {
			t.Errorf("failure %d = %q, want %q…", i, got, want[i])
		}
	}
}

func TestReporterWindows(t *testing.T) {
	t0 := time.Date(2020, 7, 6, 10, 0, 0, 0, time.UTC)
	clock := t0
	r := newReporter("", "s.t", "t", time.Hour, func() time.Time { return clock }, slog.New(slog.DiscardHandler))
	defer r.close(t.Context())
	r.add(10, 1000, 1, 10*time.Millisecond, nil)
	r.add(5, 500, 0, 20*time.Millisecond, nil)
	clock = t0.Add(5 * time.Second)
	got := r.take()
	want := contract.WindowReport{Tenant: "t", Kind: contract.KindStream, WindowStart: t0, WindowEnd: clock,
		Messages: 15, Bytes: 1500, Failures: 1, Batches: 2, AvgIngestMS: 15}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("window\n got %+v\nwant %+v", got, want)
	}
	clock = t0.Add(10 * time.Second)
	if next := r.take(); next.WindowStart != t0.Add(5*time.Second) || next.Batches != 0 || next.AvgIngestMS != 0 {
		t.Errorf("next window %+v", next)
	}
}
