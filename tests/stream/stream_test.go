package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/records"
)

// ingestFunc delivers one batch and returns the 200 answer.
type ingestFunc func(t *testing.T, b contract.Batch) contract.Response

// paths are the two ways in: the function over HTTP, as the connector
// calls it, and the shared/streamingest API, as a Lambda adapter would.
var paths = []struct {
	name string
	make func(t *testing.T, p *platform, profileYAML string) ingestFunc
}{
	{"http", func(t *testing.T, p *platform, profileYAML string) ingestFunc {
		srv := p.handler(t, profileYAML)
		return func(t *testing.T, b contract.Batch) contract.Response {
			t.Helper()
			code, resp, raw := post(t, srv.URL, b.Tenant, mustJSON(b))
			if code != http.StatusOK {
				t.Fatalf("answer %d %s, want 200", code, raw)
			}
			return resp
		}
	}},
	// As the connector sends records to a function deployed with
	// contract.RecordEncodingJSON: JSON object payloads as "json".
	{"http-raw-json", func(t *testing.T, p *platform, profileYAML string) ingestFunc {
		srv := p.handler(t, profileYAML)
		return func(t *testing.T, b contract.Batch) contract.Response {
			t.Helper()
			raw := contract.Batch{Tenant: b.Tenant, Records: slices.Clone(b.Records)}
			for i, r := range raw.Records {
				if d := bytes.TrimSpace(r.Data); len(d) > 0 && d[0] == '{' && json.Valid(d) {
					raw.Records[i].JSON, raw.Records[i].Data = d, nil
				}
			}
			body := mustJSON(raw)
			if !bytes.Contains(body, []byte(`"json":{`)) {
				t.Fatalf("no record of the batch went as raw JSON: %s", body)
			}
			code, resp, answer := post(t, srv.URL, b.Tenant, body)
			if code != http.StatusOK {
				t.Fatalf("answer %d %s, want 200", code, answer)
			}
			return resp
		}
	}},
	{"api", func(t *testing.T, p *platform, profileYAML string) ingestFunc {
		in := p.ingester(t, profileYAML)
		return func(t *testing.T, b contract.Batch) contract.Response {
			t.Helper()
			resp, err := in.Handle(t.Context(), b)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			return resp
		}
	}},
}

func TestECDCStoredExactlyOnce(t *testing.T) {
	p := startPlatform(t)
	const n = 60
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			tenant := "once-" + path.name
			ingest := path.make(t, p, tenant1Profile(tenant, "5s"))
			coll := p.db.Database(tenant).Collection("covid_daily")
			batch := ecdcBatch(tenant, 0, n, 0)
			for attempt := 1; attempt <= 2; attempt++ { // the second is a redelivery
				if resp := ingest(t, batch); len(resp.BatchItemFailures) != 0 {
					t.Fatalf("delivery %d: failures %v", attempt, failures(resp))
				}
				if got := count(t, coll); got != n {
					t.Fatalf("after delivery %d: %d documents, want %d", attempt, got, n)
				}
			}
			// Row i < 6 is the i-th of shared/ecdc's countries on 2020-07-06.
			for _, tc := range []struct {
				row  int
				want bson.M
			}{
				{0, bson.M{"countriesAndTerritories": "Afghanistan", "cases": int64(-20), "day": int64(6), "popData2019": int64(38041757)}},
				{1, bson.M{"countriesAndTerritories": "Bonaire, Saint Eustatius and Saba", "day": int64(6), "month": int64(7), "year": int64(2020)}},
				{3, bson.M{"geoId": "JPG11668", "countryterritoryCode": nil, "popData2019": nil, "continentExp": "Other"}},
				{4, bson.M{"countriesAndTerritories": "Curaçao", "cases": int64(-16)}},
				{5, bson.M{"countriesAndTerritories": "Côte d’Ivoire", "dateRep": bson.NewDateTimeFromTime(time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC)), "deaths": int64(5)}},
			} {
				geo := ecdc.Fields(tc.row)["geoId"].(string)
				id := records.KeyID(tenant, geo, "2020-07-06")
				var doc bson.M
				if err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
					t.Fatalf("row %d (%s): find by business key id: %v", tc.row, geo, err)
				}
				for k, v := range tc.want {
					if got, ok := doc[k]; !ok || got != v {
						t.Errorf("row %d: %s = %#v, want %#v", tc.row, k, got, v)
					}
				}
			}
		})
	}
}

func TestPoisonRecordsFailAlone(t *testing.T) {
	p := startPlatform(t)
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			tenant := "poison-" + path.name
			ingest := path.make(t, p, tenant1Profile(tenant, "5s"))
			coll := p.db.Database(tenant).Collection("covid_daily")
			good := ecdcRow(0, 0)
			with := func(k string, v any) []byte {
				row := ecdcRow(0, 0)
				row[k] = v
				return mustJSON(row)
			}
			without := func(k string) []byte {
				row := ecdcRow(0, 0)
				delete(row, k)
				return mustJSON(row)
			}
			poison := []struct {
				id     string
				data   []byte
				reason string
			}{
				{"bad-json", []byte(`{"dateRep": "6/07/2020", "cases": 1`), "not valid JSON"},
				{"cases-abc", with("cases", "abc"), `field cases: "abc" is not an int`},
				{"no-geo", without("geoId"), "field geoId: is required but missing"},
				{"extra", with("notes", "x"), `unexpected fields "notes"`},
				{"array", []byte(`[1, 2]`), "is an array, not a JSON object"},
				{"bad-date", with("dateRep", "31/02/2020"), "field dateRep:"},
				{"bad-utf8", []byte("{\"geoId\": \"A\xffF\"}"), "invalid UTF-8"},
				{"empty", nil, "not valid JSON"},
			}
			batch := ecdcBatch(tenant, 0, 10, 0)
			for i, pr := range poison { // interleaved with the good ones
				r := record(tenant, uint64(100+i), pr.data)
				r.ID = pr.id
				batch.Records = slices.Insert(batch.Records, i, r)
			}
			other := record(tenant, 200, mustJSON(good))
			other.ID, other.Subject = "other-subject", "ingest.someone-else.covid"
			batch.Records = append(batch.Records, other)

			resp := ingest(t, batch)
			got := map[string]string{}
			for _, f := range resp.BatchItemFailures {
				got[f.ItemIdentifier] = f.Reason
			}
			for _, pr := range poison {
				if r, ok := got[pr.id]; !ok || !strings.Contains(r, pr.reason) || strings.ContainsAny(r, "\r\n") {
					t.Errorf("failure of %s = %q, want one line containing %q", pr.id, r, pr.reason)
				}
			}
			if r := got["other-subject"]; !strings.Contains(r, "is not tenant "+tenant+"'s") {
				t.Errorf("record of another tenant's subject: reason %q", r)
			}
			if len(got) != len(poison)+1 {
				t.Errorf("failures %v, want exactly the %d poison records", failures(resp), len(poison)+1)
			}
			if n := count(t, coll); n != 10 {
				t.Errorf("%d documents stored, want the 10 good ones", n)
			}
		})
	}
}

// A corrected row (same business key) replaces the stored one: the last
// write wins, and more than FerretDB's safe 50 replaces go in chunks.
func TestCorrectionsReplaceByBusinessKey(t *testing.T) {
	p := startPlatform(t)
	const tenant, n = "corrections", 120
	in := p.ingester(t, tenant1Profile(tenant, "5s"))
	coll := p.db.Database(tenant).Collection("covid_daily")
	for _, delta := range []int{0, 1000} {
		resp, err := in.Handle(t.Context(), ecdcBatch(tenant, 0, n, delta))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("delta %d: %v %v", delta, err, failures(resp))
		}
	}
	// The same key twice in one batch: the later record wins.
	twice := ecdcBatch(tenant, 0, 1, 2000)
	twice.Records = append(twice.Records, ecdcBatch(tenant, 0, 1, 3000).Records...)
	twice.Records[1].ID = "second"
	if resp, err := in.Handle(t.Context(), twice); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("same key twice: %v %v", err, failures(resp))
	}
	if got := count(t, coll); got != n {
		t.Fatalf("%d documents, want %d", got, n)
	}
	cur, err := coll.Find(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		GeoID string    `bson:"geoId"`
		Date  time.Time `bson:"dateRep"`
		Cases int64     `bson:"cases"`
	}
	if err := cur.All(t.Context(), &docs); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for i := range n {
		row := ecdcRow(i, 1000)
		if i == 0 {
			row = ecdcRow(0, 3000)
		}
		want[row["geoId"].(string)] += int64(row["cases"].(int))
	}
	got := map[string]int64{}
	for _, d := range docs {
		got[d.GeoID] += d.Cases
	}
	if !maps(got, want) {
		t.Errorf("cases per country %v, want the corrections %v", got, want)
	}
}

func maps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Without a business key a document is its record: a redelivered record
// rewrites itself, another record with the same payload is another row.
func TestNoKeyIdempotentPerRecord(t *testing.T) {
	p := startPlatform(t)
	const tenant, n = "nokey", 12
	in := p.ingester(t, noKeyProfile(tenant))
	coll := p.db.Database(tenant).Collection("covid_daily")
	batch := ecdcBatch(tenant, 0, n, 0)
	again := ecdcBatch(tenant, 0, n, 0)
	for i := range again.Records {
		again.Records[i].ID = contract.RecordID("", "ingest-"+tenant, uint64(1000+i))
	}
	for _, tc := range []struct {
		name string
		b    contract.Batch
		want int64
	}{
		{"first delivery", batch, n},
		{"redelivery", batch, n},
		{"republished under new ids", again, 2 * n},
	} {
		if resp, err := in.Handle(t.Context(), tc.b); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s: %v %v", tc.name, err, failures(resp))
		}
		if got := count(t, coll); got != tc.want {
			t.Errorf("%s: %d documents, want %d", tc.name, got, tc.want)
		}
	}
}

// waitReports sums the window reports on ch until they count messages,
// failing at the deadline. Summing makes the test independent of where
// the window boundaries fall.
func waitReports(t *testing.T, ch <-chan *nats.Msg, messages int64, deadline time.Duration) contract.WindowReport {
	t.Helper()
	var sum contract.WindowReport
	timeout := time.After(deadline)
	for sum.Messages < messages {
		select {
		case m := <-ch:
			var rep contract.WindowReport
			if err := json.Unmarshal(m.Data, &rep); err != nil {
				t.Fatalf("report %s: %v", m.Data, err)
			}
			if rep.Kind != contract.KindStream || rep.Batches == 0 || !rep.WindowEnd.After(rep.WindowStart) || rep.AvgIngestMS <= 0 {
				t.Errorf("report %s", m.Data)
			}
			if sum.Batches == 0 {
				sum.Tenant, sum.WindowStart = rep.Tenant, rep.WindowStart
			} else if rep.WindowStart.Before(sum.WindowEnd) {
				t.Errorf("windows overlap: %s starts before %s", m.Data, sum.WindowEnd)
			}
			sum.WindowEnd = rep.WindowEnd
			sum.Messages += rep.Messages
			sum.Bytes += rep.Bytes
			sum.Failures += rep.Failures
			sum.Batches += rep.Batches
			for ds, q := range rep.Quality {
				if sum.Quality == nil {
					sum.Quality = map[string]contract.Quality{}
				}
				w := sum.Quality[ds]
				w.Merge(q)
				sum.Quality[ds] = w
			}
		case <-timeout:
			t.Fatalf("after %s: reports sum to %+v, want %d messages", deadline, sum, messages)
		}
	}
	return sum
}

func TestWindowReports(t *testing.T) {
	p := startPlatform(t)
	for _, tc := range []struct {
		name, window string
		// closeEarly flushes the partial window with Close instead of
		// waiting for the ticker.
		closeEarly bool
	}{
		{"ticker", "300ms", false},
		{"flush on close", "1h", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenant := "report-" + strings.ReplaceAll(tc.name, " ", "-")
			reports := p.subscribe(t, "test.reports."+tenant)
			in := p.ingester(t, tenant1Profile(tenant, tc.window), "MYSIMBDP_REPORT_SUBJECT", "test.reports")
			a := ecdcBatch(tenant, 0, 10, 0)
			a.Records = append(a.Records, record(tenant, 50, []byte(`{oops`)), record(tenant, 51, []byte(`{"cases":"abc"}`)))
			b := ecdcBatch(tenant, 10, 15, 0)
			var bytes int64
			for _, batch := range []contract.Batch{a, b} {
				if _, err := in.Handle(t.Context(), batch); err != nil {
					t.Fatal(err)
				}
				for _, r := range batch.Records {
					bytes += int64(len(r.Data))
				}
			}
			if tc.closeEarly {
				if err := in.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			sum := waitReports(t, reports, 17, 10*time.Second)
			if sum.Tenant != tenant || sum.Messages != 17 || sum.Failures != 2 || sum.Bytes != bytes || sum.Batches != 2 {
				t.Errorf("reports sum to %+v; want tenant %s, 17 messages, 2 failures, %d bytes, 2 batches", sum, tenant, bytes)
			}
		})
	}
}

func TestHTTPAnswers(t *testing.T) {
	p := startPlatform(t)
	const tenant = "answers"
	srv := p.handler(t, tenant1Profile(tenant, "5s"))
	// A database that refuses connections, found out fast.
	down := p.handler(t, tenant1Profile(tenant, "5s"),
		"MYSIMBDP_MONGO_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300")
	misconfigured := p.handler(t, "tenant: [")
	good := mustJSON(ecdcBatch(tenant, 0, 2, 0))
	for _, tc := range []struct {
		name, url, method, header string
		body                      []byte
		code                      int
		want                      string
	}{
		{"all stored", srv.URL, http.MethodPost, tenant, good, 200, `{"batchItemFailures":[]}`},
		{"get", srv.URL, http.MethodGet, tenant, nil, 405, "POST a batch"},
		{"not JSON", srv.URL, http.MethodPost, tenant, []byte(`records: 1`), 400, "the body is not a batch"},
		{"no id", srv.URL, http.MethodPost, tenant, []byte(`{"tenant":"answers","records":[{"data":"e30="}]}`), 400, "record 1 of 1 has no id"},
		{"other tenant's header", srv.URL, http.MethodPost, "tenant2", good, 403, "this is tenant answers's"},
		{"other tenant's batch", srv.URL, http.MethodPost, "", mustJSON(ecdcBatch("tenant2", 0, 1, 0)), 403, "sent to tenant answers's stream ingest"},
		{"database down", down.URL, http.MethodPost, tenant, good, 503, "ingest batch of 2"},
		{"misconfigured", misconfigured.URL, http.MethodPost, tenant, good, 500, "tenant profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.url, strings.NewReader(string(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set(contract.HeaderTenant, tc.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body json.RawMessage
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			if res.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
				t.Errorf("answer %d %s; want %d containing %q", res.StatusCode, body, tc.code, tc.want)
			}
		})
	}
	if n := count(t, p.db.Database(tenant).Collection("covid_daily")); n != 2 {
		t.Errorf("%d documents, want the 2 of the one good batch", n)
	}
}

// Batches handled at the same time by one replica (max-inflight > 1) each
// get exactly their own failures, every good record is stored once, and a
// redelivery of them all at once, which replaces every document by
// business key, changes nothing (and does not hang FerretDB, which it did
// when the replaces of eight batches took its 100 pooled connections).
func TestConcurrentBatches(t *testing.T) {
	p := startPlatform(t)
	const tenant, batches, per = "group", 8, 40
	in := p.ingester(t, tenant1Profile(tenant, "5s"))
	coll := p.db.Database(tenant).Collection("covid_daily")
	all := make([]contract.Batch, batches)
	for k := range all {
		all[k] = ecdcBatch(tenant, k*per, (k+1)*per, 0)
		bad := record(tenant, uint64(10000+k), []byte(`{"cases": "abc"`))
		bad.ID = fmt.Sprintf("poison-%d", k)
		all[k].Records = slices.Insert(all[k].Records, k%per, bad)
	}
	for round := 1; round <= 2; round++ {
		var wg sync.WaitGroup
		resps := make([]contract.Response, batches)
		errs := make([]error, batches)
		// Bounded, so that a store that hangs (as FerretDB did on too many
		// replaces at once) fails the test rather than outlasting it.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		for k := range all {
			wg.Go(func() { resps[k], errs[k] = in.Handle(ctx, all[k]) })
		}
		wg.Wait()
		cancel()
		for k := range all {
			if errs[k] != nil {
				t.Fatalf("round %d, batch %d: %v", round, k, errs[k])
			}
			f := resps[k].BatchItemFailures
			if len(f) != 1 || f[0].ItemIdentifier != fmt.Sprintf("poison-%d", k) || !strings.Contains(f[0].Reason, "not valid JSON") {
				t.Errorf("round %d, batch %d: failures %v, want only its own poison record", round, k, failures(resps[k]))
			}
		}
		if got := count(t, coll); got != batches*per {
			t.Fatalf("after round %d: %d documents, want %d", round, got, batches*per)
		}
	}
}
