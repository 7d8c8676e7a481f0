package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"go.mongodb.org/mongo-driver/v2/bson"

	batchingest "github.com/mysimbdp/mysimbdp/functions/batch-ingest"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

func handle(t *testing.T, b *ingest.Batch, ev events.S3Event) contract.BatchReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := b.HandleEvent(ctx, ev)
	if err != nil {
		t.Fatalf("%v (report %+v)", err, rep)
	}
	return rep
}

// post sends the event to the HTTP function and decodes its answer.
func post(t *testing.T, h http.Handler, body []byte) (*http.Response, contract.BatchReport) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
	res := rec.Result()
	var rep contract.BatchReport
	_ = json.Unmarshal(rec.Body.Bytes(), &rep)
	if res.StatusCode >= 300 {
		t.Logf("HTTP %d: %s", res.StatusCode, strings.TrimSpace(rec.Body.String()))
	}
	return res, rep
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newHandler(t *testing.T, profileYAML string) *batchingest.Handler {
	h := batchingest.NewHandler(getenv(profileYAML), testLog(t))
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func TestRedeliveryAndNewVersions(t *testing.T) {
	const tenant = "redeliver"
	prof := tenant1Profile(tenant, defaultLimits)
	b := newBatch(t, prof)
	h := newHandler(t, prof)
	key := "incoming/cases.csv"
	ev := put(t, tenant, key, ecdcCSV(0, 300))

	first := handle(t, b, ev)
	if first.Status != contract.StatusDone || first.RowsOK != 300 {
		t.Fatalf("first delivery: %+v", first)
	}
	// The same event again, directly and through HTTP: the stored report,
	// nothing added.
	again := handle(t, b, ev)
	res, viaHTTP := post(t, h, mustJSON(t, ev))
	if res.StatusCode != http.StatusOK || viaHTTP.RowsOK != 300 || viaHTTP.ETag != first.ETag {
		t.Errorf("HTTP redelivery: %d %+v", res.StatusCode, viaHTTP)
	}
	if !again.StartedAt.Equal(first.StartedAt) || again.RowsOK != first.RowsOK {
		t.Errorf("redelivery gave a new report %+v, want the stored %+v", again, first)
	}
	if n := count(t, tenant, "covid_daily", nil); n != 300 {
		t.Fatalf("%d documents after redelivery, want 300", n)
	}

	// A corrected version of the same file (rows 0-249, one with other
	// counts, plus 100 new rows): documents are identified by the business
	// key, so corrected rows replace the old ones and new rows are added.
	// 250 rows already stored also exercise the replace path in chunks.
	v2 := string(ecdcCSV(0, 250))
	v2 = strings.Replace(v2, "6/07/2020,6,7,2020,-20,0,Afghanistan", "6/07/2020,6,7,2020,4242,0,Afghanistan", 1)
	v2 += string(ecdcCSV(300, 400))[len("\ufeff"+ecdcHeader+"\r\n"):]
	second := handle(t, b, put(t, tenant, key, []byte(v2)))
	if second.Status != contract.StatusDone || second.ETag == first.ETag || second.RowsOK != 350 {
		t.Fatalf("second version: %+v", second)
	}
	if second.RowsUnchanged != 249 || second.RowsReplaced != 1 {
		t.Errorf("second version: %d rows unchanged, %d replaced; want 249 and 1", second.RowsUnchanged, second.RowsReplaced)
	}
	if n := count(t, tenant, "covid_daily", nil); n != 400 {
		t.Errorf("%d documents after the second version, want 400 (300 + 100 new)", n)
	}
	if n := count(t, tenant, "covid_daily", bson.D{{Key: "geoId", Value: "AF"}, {Key: "dateRep", Value: time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC)}, {Key: "cases", Value: 4242}}); n != 1 {
		t.Errorf("the corrected row was not replaced (%d matches)", n)
	}
	// The first version's event, redelivered late, changes nothing.
	handle(t, b, ev)
	if n := count(t, tenant, "covid_daily", bson.D{{Key: "cases", Value: 4242}}); n != 1 {
		t.Error("a late redelivery of the first version undid the correction")
	}
}

// TestReuploadWritesOnlyWhatChanged: the daily file carries the whole
// history, so most of a re-upload is stored already. The rows that did
// not change are left alone (the store is read, not written), the changed
// ones replaced, and the collection ends exactly as the last upload says.
func TestReuploadWritesOnlyWhatChanged(t *testing.T) {
	const tenant, rows = "reupload", 2500
	b := newBatch(t, tenant1Profile(tenant, defaultLimits))
	changed := func(every int) []byte { // cases of every every-th row + 1 000 000
		var csv strings.Builder
		csv.WriteString(ecdc.Header + "\r\n")
		for i := range rows {
			line := ecdc.Row(i)
			if every > 0 && i%every == 0 {
				f := strings.SplitN(line, ",", 6)
				f[4] = strconv.Itoa(1_000_000 + i)
				line = strings.Join(f, ",")
			}
			csv.WriteString(line + "\r\n")
		}
		return []byte(csv.String())
	}
	sum := func() (n, cases int64) {
		cur, err := env.db.Database(tenant).Collection("covid_daily").Find(t.Context(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []struct {
			Cases int64 `bson:"cases"`
		}
		if err := cur.All(t.Context(), &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			n, cases = n+1, cases+d.Cases
		}
		return n, cases
	}
	cases := []struct {
		name                    string
		key                     string
		every                   int // change every every-th row; 0: none
		wantUnchanged, wantRepl int64
	}{
		{"first upload: every row new", "incoming/day1.csv", 0, 0, 0},
		{"same rows, another file: every row unchanged", "incoming/day2.csv", 0, rows, 0},
		{"1% of the rows corrected", "incoming/day3.csv", 100, rows - rows/100, rows / 100},
		{"the corrections undone", "incoming/day4.csv", 0, rows - rows/100, rows / 100},
	}
	for _, tc := range cases {
		start := time.Now()
		rep := handle(t, b, put(t, tenant, tc.key, changed(tc.every)))
		t.Logf("%s: %s", tc.name, time.Since(start))
		if rep.Status != contract.StatusDone || rep.RowsOK != rows {
			t.Fatalf("%s: %s with %d rows: %s", tc.name, rep.Status, rep.RowsOK, rep.Error)
		}
		if rep.RowsUnchanged != tc.wantUnchanged || rep.RowsReplaced != tc.wantRepl {
			t.Errorf("%s: %d rows unchanged, %d replaced; want %d and %d", tc.name, rep.RowsUnchanged, rep.RowsReplaced, tc.wantUnchanged, tc.wantRepl)
		}
		var want int64 // the sum of cases the file holds
		for _, line := range strings.Split(strings.TrimSpace(string(changed(tc.every))), "\r\n")[1:] {
			c, _ := strconv.ParseInt(strings.SplitN(line, ",", 6)[4], 10, 64)
			want += c
		}
		if n, got := sum(); n != rows || got != want {
			t.Errorf("%s: %d documents with %d cases in all; want %d with %d", tc.name, n, got, rows, want)
		}
	}
}

func TestMultipartUploadIsIngested(t *testing.T) {
	const tenant = "multipart"
	// tenant2's shape ignores unknown columns: a padding column makes the
	// file large with fewer rows, keeping the test fast.
	b := newBatch(t, tenant2Profile(tenant, defaultLimits))
	const rows = 70_000
	pad := "," + strings.Repeat("x", 180)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	key := "incoming/big.csv"
	// Size -1 with a 5 MiB part size forces a multipart upload.
	info, err := env.s3.PutObject(ctx, tenant, key, newECDCStream(rows, ",notes", pad), -1,
		minio.PutObjectOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size < 16<<20 || !strings.Contains(info.ETag, "-") {
		t.Fatalf("upload of %d bytes with ETag %s is not a multipart upload of 16 MiB or more", info.Size, info.ETag)
	}
	rep := handle(t, b, event(tenant, key, info.ETag, info.Size))
	if rep.Status != contract.StatusDone || rep.RowsOK != rows || rep.Bytes != info.Size {
		t.Fatalf("report %+v", rep)
	}
	if n := count(t, tenant, "ecdc_cases", nil); n != rows {
		t.Errorf("%d documents, want %d", n, rows)
	}
	t.Logf("multipart: %d bytes, %d rows in %d ms", info.Size, rep.RowsOK, rep.DurationMS)
}

func TestOversizeFileRejectedUnread(t *testing.T) {
	const tenant = "oversize"
	b := newBatch(t, tenant1Profile(tenant, `  max_file_size: 4kB
  max_files_per_window: 100
  window: 1m`))
	data := ecdcCSV(0, 100) // about 6.5 kB
	key := "incoming/too big.csv"
	rep := handle(t, b, put(t, tenant, key, data))
	if rep.Status != contract.StatusRejected || rep.Bytes != 0 || rep.RowsOK != 0 {
		t.Fatalf("report %+v, want rejected with nothing read", rep)
	}
	want := regexp.MustCompile(`^file is \d+\.\d kB, over the tenant's max_file_size of 4 kB$`)
	if !want.MatchString(rep.Error) {
		t.Errorf("reason %q, want it to match %s", rep.Error, want)
	}
	if exists(t, tenant, key) || !exists(t, tenant, "rejected/too big.csv") || !exists(t, tenant, "rejected/too big.csv.report.json") {
		t.Error("the file was not moved to rejected/ with its report")
	}
	if n := count(t, tenant, "covid_daily", nil); n != 0 {
		t.Errorf("%d documents stored from a refused file", n)
	}
}

// awaitWindowRoom waits, if need be, for the next files-per-window window
// (windows are aligned on the Unix epoch), so that at least room is left
// in the current one for what the test does in a single window.
func awaitWindowRoom(window, room time.Duration) {
	now := time.Now()
	if left := now.Truncate(window).Add(window).Sub(now); left < room {
		time.Sleep(left) // until the new window starts: a known instant, not a guess
	}
}

func TestFilesOverTheWindowAreDeferredThenIngested(t *testing.T) {
	const tenant = "window"
	const window = 5 * time.Second
	prof := tenant1Profile(tenant, `  max_files_per_window: 2
  window: 5s`)
	b := newBatch(t, prof)
	h := newHandler(t, prof)

	var evs []events.S3Event
	for i := range 4 {
		evs = append(evs, put(t, tenant, "incoming/f"+strconv.Itoa(i)+".csv", ecdcCSV(i*50, (i+1)*50)))
	}
	awaitWindowRoom(window, window-time.Second)
	start := time.Now()
	// The windows are aligned (on the Unix epoch): no window may see more
	// than two files read.
	perWindow := map[time.Time]int{}
	read := func(rep contract.BatchReport) { perWindow[rep.StartedAt.Truncate(window)]++ }
	for i := range 2 {
		rep := handle(t, b, evs[i])
		if rep.Status != contract.StatusDone {
			t.Fatalf("file %d: %+v", i, rep)
		}
		read(rep)
	}
	// The third directly, the fourth through HTTP: deferred, kept in incoming/.
	rep := handle(t, b, evs[2])
	if rep.Status != contract.StatusDeferred || rep.RetryAfter <= 0 || rep.RetryAfter > window {
		t.Fatalf("third file: %+v, want deferred within %s", rep, window)
	}
	res, rep4 := post(t, h, mustJSON(t, evs[3]))
	ra, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 5 || rep4.Status != contract.StatusDeferred {
		t.Fatalf("fourth file over HTTP: %d Retry-After %q %+v", res.StatusCode, res.Header.Get("Retry-After"), rep4)
	}
	if time.Since(start) < window && (!exists(t, tenant, "incoming/f2.csv") || !exists(t, tenant, "incoming/f3.csv")) {
		t.Fatal("a deferred file left incoming/")
	}

	// Redeliver as the connector would, when told to, until both are in.
	deadline := time.Now().Add(20 * time.Second)
	pending := []events.S3Event{evs[2], evs[3]}
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d files still deferred at the deadline", len(pending))
		}
		var wait time.Duration
		var still []events.S3Event
		for _, ev := range pending {
			rep := handle(t, b, ev)
			switch rep.Status {
			case contract.StatusDone:
				read(rep)
			case contract.StatusDeferred:
				still, wait = append(still, ev), max(wait, rep.RetryAfter)
			default:
				t.Fatalf("redelivery: %+v", rep)
			}
		}
		pending = still
		if len(pending) > 0 {
			<-time.After(wait) // the time the platform asked for, no guess
		}
	}
	for w, n := range perWindow {
		if n > 2 {
			t.Errorf("%d files read in the %s window from %s", n, window, w.Format(time.TimeOnly))
		}
	}
	if n := count(t, tenant, "covid_daily", nil); n != 200 {
		t.Errorf("%d documents, want 200", n)
	}
}

// TestFilesArrivingTogetherTakeOnlyTheWindowsSlots: files whose events
// arrive at once (the connector invokes them concurrently) race for the
// window's slots; exactly max_files_per_window of them are read, the others
// are deferred.
func TestFilesArrivingTogetherTakeOnlyTheWindowsSlots(t *testing.T) {
	const tenant = "race"
	prof := tenant1Profile(tenant, `  max_files_per_window: 2
  window: 1m`)
	b := newBatch(t, prof)
	const files = 6
	var evs []events.S3Event
	for i := range files {
		evs = append(evs, put(t, tenant, "incoming/r"+strconv.Itoa(i)+".csv", ecdcCSV(i*10, (i+1)*10)))
	}
	awaitWindowRoom(time.Minute, 20*time.Second)
	reps := make([]contract.BatchReport, files)
	var wg sync.WaitGroup
	for i := range files {
		wg.Go(func() { reps[i] = handle(t, b, evs[i]) })
	}
	wg.Wait()
	statuses := map[contract.Status]int{}
	for _, r := range reps {
		statuses[r.Status]++
	}
	if statuses[contract.StatusDone] != 2 || statuses[contract.StatusDeferred] != files-2 {
		t.Errorf("statuses %v, want 2 done and %d deferred", statuses, files-2)
	}
	if n := count(t, tenant, "covid_daily", nil); n != 20 {
		t.Errorf("%d documents, want the 20 rows of the 2 files read", n)
	}
}

func TestMalformedFiles(t *testing.T) {
	const tenant = "malformed"
	b := newBatch(t, tenant1Profile(tenant, defaultLimits))
	good := func(from, to int) string { return string(ecdcCSV(from, to)) }
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i/3)
	}
	jsonRow := func(i int) string {
		return `{"dateRep":"` + strconv.Itoa(1+i) + `/03/2020","day":` + strconv.Itoa(1+i) +
			`,"month":3,"year":2020,"cases":-3,"deaths":0,"countriesAndTerritories":"Curaçao","geoId":"J` + strconv.Itoa(i) +
			`","countryterritoryCode":null,"popData2019":null,"continentExp":"America"}`
	}
	for _, tc := range []struct {
		name, key, data string
		status          contract.Status
		ok, rejected    int64
		reason          string // in the report's error
		rowReason       string // in the quarantined row
	}{
		{name: "binary garbage", key: "garbage.csv", data: string(garbage), status: contract.StatusRejected, reason: "header"},
		{name: "wrong columns", key: "columns.csv", data: "date,country,cases\r\n1/1/2020,X,3\r\n", status: contract.StatusRejected,
			reason: "missing required columns"},
		{name: "empty file", key: "empty.csv", data: "", status: contract.StatusRejected, reason: "file is empty"},
		{name: "unterminated quote", key: "quote.csv",
			data:   good(1000, 1003) + `6/07/2020,6,7,2020,1,1,"Bonaire, Saint Eustatius and Saba,BQ,BES,25983,America` + "\r\n" + good(1003, 1006)[len("\ufeff"+ecdcHeader+"\r\n"):],
			status: contract.StatusDone, ok: 6, rejected: 1, rowReason: "quote"},
		{name: "invalid UTF-8", key: "latin1.csv",
			data:   good(2000, 2002) + "6/07/2020,6,7,2020,0,0,Cura\xe7ao,CW,CUW,163423,America\r\n",
			status: contract.StatusDone, ok: 2, rejected: 1, rowReason: "UTF-8"},
		{name: "bad values", key: "values.csv",
			data:   good(3000, 3002) + "31/02/2020,31,2,2020,x,0,Benin,BJ,BEN,1,Africa\r\n",
			status: contract.StatusDone, ok: 2, rejected: 1, rowReason: "is not a date"},
		{name: "JSON syntax error", key: "broken.json", data: "[" + jsonRow(1) + "," + jsonRow(2) + `,{"dateRep": oops}]`,
			status: contract.StatusRejected, ok: 2, reason: "syntax error"},
		{name: "NDJSON bad line", key: "lines.ndjson", data: jsonRow(3) + "\n{not json\n" + jsonRow(4) + "\n",
			status: contract.StatusDone, ok: 2, rejected: 1, rowReason: "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "incoming/" + tc.key
			rep := handle(t, b, put(t, tenant, key, []byte(tc.data)))
			if rep.Status != tc.status || rep.RowsOK != tc.ok || rep.RowsRejected != tc.rejected {
				t.Fatalf("report %+v, want %s with %d ok and %d rejected", rep, tc.status, tc.ok, tc.rejected)
			}
			if !strings.Contains(rep.Error, tc.reason) {
				t.Errorf("error %q does not say %q", rep.Error, tc.reason)
			}
			if dst := ingest.Destination(key, rep.Status); exists(t, tenant, key) || !exists(t, tenant, dst) {
				t.Errorf("%s not moved to %s", key, dst)
			}
			if tc.rejected == 0 {
				return
			}
			var q struct {
				File, Reason, Raw, ETag string
				Line                    int
			}
			err := env.db.Database(tenant).Collection("covid_daily_rejected").
				FindOne(context.Background(), bson.D{{Key: "file", Value: key}}).Decode(&q)
			if err != nil {
				t.Fatal(err)
			}
			if q.Line < 2 || q.Raw == "" || q.ETag != rep.ETag || !strings.Contains(q.Reason, tc.rowReason) {
				t.Errorf("quarantined row %+v, want a line, raw text and a reason with %q", q, tc.rowReason)
			}
		})
	}
	// Good rows of every file were kept: 6 + 2 + 2 + 2 (JSON before the error) + 2.
	if n := count(t, tenant, "covid_daily", nil); n != 14 {
		t.Errorf("%d documents, want 14", n)
	}
}

func TestAnotherTenantsBucketIsRefused(t *testing.T) {
	prof1 := tenant1Profile("refuse-t1", defaultLimits)
	b1 := newBatch(t, prof1)
	b2 := newBatch(t, tenant2Profile("refuse-t2", defaultLimits))
	ev := put(t, "refuse-t2", "incoming/theirs.csv", ecdcCSV(0, 10))

	_, err := b1.HandleEvent(context.Background(), ev)
	if !errors.Is(err, ingest.ErrForbidden) {
		t.Fatalf("tenant1 on tenant2's bucket: %v, want ErrForbidden", err)
	}
	res, _ := post(t, newHandler(t, prof1), mustJSON(t, ev))
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("HTTP %d, want 403", res.StatusCode)
	}
	if !exists(t, "refuse-t2", "incoming/theirs.csv") || count(t, "refuse-t1", "covid_daily", nil) != 0 {
		t.Error("tenant1's function touched tenant2's file")
	}
	// tenant2's own function ingests it.
	if rep := handle(t, b2, ev); rep.Status != contract.StatusDone || rep.RowsOK != 10 {
		t.Errorf("tenant2: %+v", rep)
	}
}

func TestHTTPAnswers(t *testing.T) {
	const tenant = "http-answers"
	prof := tenant1Profile(tenant, defaultLimits)
	newBatch(t, prof) // makes the bucket
	h := newHandler(t, prof)
	ev := put(t, tenant, "incoming/ok.csv", ecdcCSV(0, 20))
	for _, tc := range []struct {
		name string
		body []byte
		code int
	}{
		{"not JSON", []byte("hello"), http.StatusBadRequest},
		{"no records", []byte(`{"Records":[]}`), http.StatusBadRequest},
		{"an upload", mustJSON(t, ev), http.StatusOK},
		{"outside incoming/", mustJSON(t, event(tenant, "processed/ok.csv", "", 0)), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := post(t, h, tc.body)
			if res.StatusCode != tc.code {
				t.Errorf("HTTP %d, want %d", res.StatusCode, tc.code)
			}
		})
	}
	// Misconfigured: says so, with the variable's name.
	bad := batchingest.NewHandler(func(string) string { return "" }, testLog(t))
	rec := httptest.NewRecorder()
	bad.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(mustJSON(t, ev))))
	if body, _ := io.ReadAll(rec.Body); rec.Code != http.StatusInternalServerError || !bytes.Contains(body, []byte("MYSIMBDP_PROFILE")) {
		t.Errorf("misconfigured: %d %s", rec.Code, body)
	}
}

// Files whose rows are already stored, handled side by side as the
// connector does (up to 16 at once), replace them by business key: every
// file is done, the last version of each row wins, and FerretDB does not
// hang (it did when eight files' replace commands took its 100 pooled
// connections together).
func TestCorrectedFilesSideBySide(t *testing.T) {
	const tenant, files, rows = "sidebyside", 8, 40
	prof := tenant1Profile(tenant, defaultLimits)
	b := newBatch(t, prof)
	// File i's rows again, every one corrected to continent "Corrected".
	continents := strings.NewReplacer(",Africa\r\n", ",Corrected\r\n", ",America\r\n", ",Corrected\r\n",
		",Asia\r\n", ",Corrected\r\n", ",Other\r\n", ",Corrected\r\n")
	corrected := func(i int) []byte { return []byte(continents.Replace(string(ecdcCSV(i*rows, (i+1)*rows)))) }
	var first, second []events.S3Event
	for i := range files {
		first = append(first, put(t, tenant, fmt.Sprintf("incoming/v1-%d.csv", i), ecdcCSV(i*rows, (i+1)*rows)))
		second = append(second, put(t, tenant, fmt.Sprintf("incoming/v2-%d.csv", i), corrected(i)))
	}
	for round, evs := range [][]events.S3Event{first, second} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		reps := make([]contract.BatchReport, files)
		errs := make([]error, files)
		var wg sync.WaitGroup
		for i := range files {
			wg.Go(func() { reps[i], errs[i] = b.HandleEvent(ctx, evs[i]) })
		}
		wg.Wait()
		cancel()
		for i := range files {
			if errs[i] != nil || reps[i].Status != contract.StatusDone || reps[i].RowsOK != rows {
				t.Fatalf("round %d, file %d: %v, report %+v", round+1, i, errs[i], reps[i])
			}
		}
		if n := count(t, tenant, "covid_daily", nil); n != files*rows {
			t.Fatalf("after round %d: %d documents, want %d", round+1, n, files*rows)
		}
	}
	if n := count(t, tenant, "covid_daily", bson.D{{Key: "continentExp", Value: "Corrected"}}); n != files*rows {
		t.Errorf("%d documents carry the corrected version, want all %d", n, files*rows)
	}
}
