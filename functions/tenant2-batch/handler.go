// Package function is tenant2's own batch app: a "black box" that replaces
// the platform's generic batch-ingest for tenant2 while following the same
// contract — it receives the S3 event of an upload, is idempotent (each row
// is inserted under its business key, geoId:date, and rows already stored
// are skipped, so a redelivered event adds nothing), answers a JSON report,
// and answers non-2xx when it wants the event redelivered.
//
// It is written as a tenant would write it, with minio-go, the MongoDB
// driver and encoding/csv only, and wrangles in its own way: ISO dates,
// upper-case country codes, an ingested_by field, and its own collection
// (tenant2.ecdc_by_app). Rows it cannot use are counted and listed in the
// report, not stored.
//
// Environment: MYSIMBDP_S3_ENDPOINT, MYSIMBDP_S3_ACCESS_KEY,
// MYSIMBDP_S3_SECRET_KEY, MYSIMBDP_S3_SECURE and MYSIMBDP_MONGO_URI as the
// platform gives every batch app, read with shared/contract's FromEnv (the
// credentials from the secret MYSIMBDP_CREDENTIALS_SECRET names, which
// `mysimbdp tenant apply` stores as tenant2-credentials); TENANT2_BUCKET (default tenant2),
// TENANT2_DB (default tenant2) and TENANT2_COLLECTION (default ecdc_by_app).
package function

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// app holds the connections for the life of the process; Handle's
// signature leaves no other place for them.
var app = NewApp(os.Getenv)

// Handle serves one invocation.
func Handle(w http.ResponseWriter, r *http.Request) { app.ServeHTTP(w, r) }

// App is the function; tests build one with NewApp.
type App struct {
	getenv func(string) string
	mu     sync.Mutex
	s3     *minio.Client
	coll   *mongo.Collection
}

// NewApp returns an App configured from getenv on first use.
func NewApp(getenv func(string) string) *App { return &App{getenv: getenv} }

// Report is what the app answers.
type Report struct {
	Tenant       string   `json:"tenant"`
	Bucket       string   `json:"bucket"`
	Key          string   `json:"key"`
	ETag         string   `json:"etag"`
	RowsOK       int      `json:"rows_ok"`
	RowsRejected int      `json:"rows_rejected"`
	BadRows      []string `json:"bad_rows,omitempty"` // the first few, "line N: why"
	DurationMS   int64    `json:"duration_ms"`
	Status       string   `json:"status"`
	Error        string   `json:"error,omitempty"`
}

func (a *App) env(name, def string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return def
}

func (a *App) connect() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.s3 != nil {
		return nil
	}
	// The platform's settings, by the contract's names; the app's own
	// (TENANT2_*) are its business.
	// Credentials come from the tenant's credentials secret.
	getenv, credErr := secret.Getenv(a.getenv)
	env, err := contract.FromEnv(getenv)
	errs := []error{credErr, err}
	for _, req := range []struct{ name, val string }{
		{contract.EnvS3Endpoint, env.S3Endpoint},
		{contract.EnvMongoURI, env.MongoURI},
	} {
		if req.val == "" {
			errs = append(errs, fmt.Errorf("%s is not set", req.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// The platform's CA, when its parts serve TLS (shared/trust).
	tr, err := trust.S3Transport(env.S3Secure, env.CAFile())
	if err != nil {
		return err
	}
	s3, err := minio.New(env.S3Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(env.S3AccessKey, env.S3SecretKey, env.S3SessionToken),
		Secure:    env.S3Secure,
		Transport: tr,
	})
	if err != nil {
		return fmt.Errorf("S3 client: %w", err)
	}
	mopts, err := mongotrust.Options(options.Client().ApplyURI(env.MongoURI), env.CAFile())
	if err != nil {
		return err
	}
	db, err := mongo.Connect(mopts)
	if err != nil {
		return fmt.Errorf("MongoDB client: %w", err)
	}
	a.coll = db.Database(a.env("TENANT2_DB", "tenant2")).Collection(a.env("TENANT2_COLLECTION", "ecdc_by_app"))
	a.s3 = s3
	return nil
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP ingests the objects of one S3 event.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev events.S3Event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || len(ev.Records) == 0 {
		reply(w, http.StatusBadRequest, map[string]string{"error": "want an S3 event notification with Records"})
		return
	}
	if err := a.connect(); err != nil {
		reply(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	var reports []Report
	for _, rec := range ev.Records {
		if rec.S3.Bucket.Name != a.env("TENANT2_BUCKET", "tenant2") {
			reply(w, http.StatusForbidden, map[string]string{"error": "not tenant2's bucket: " + rec.S3.Bucket.Name})
			return
		}
		rep := a.ingest(r, rec)
		if rep.Status == "failed" {
			reply(w, http.StatusServiceUnavailable, rep) // please redeliver
			return
		}
		reports = append(reports, rep)
	}
	if len(reports) == 1 {
		reply(w, http.StatusOK, reports[0])
		return
	}
	reply(w, http.StatusOK, reports)
}

func (a *App) ingest(r *http.Request, rec events.S3EventRecord) Report {
	start := time.Now()
	key, _ := url.QueryUnescape(rec.S3.Object.Key)
	rep := Report{Tenant: "tenant2", Bucket: rec.S3.Bucket.Name, Key: key, ETag: rec.S3.Object.ETag, Status: "done"}
	defer func() { rep.DurationMS = time.Since(start).Milliseconds() }()
	fail := func(err error) Report {
		rep.Status, rep.Error = "failed", err.Error()
		slog.Error("tenant2-batch failed", "key", key, "err", err)
		return rep
	}

	obj, err := a.s3.GetObject(r.Context(), rep.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fail(err)
	}
	defer obj.Close()
	rd := csv.NewReader(obj) // streams; handles CRLF and quoted commas
	rd.FieldsPerRecord = -1
	header, err := rd.Read()
	if err != nil {
		rep.Status, rep.Error = "rejected", "cannot read the header: "+err.Error()
		return rep
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimPrefix(h, "\ufeff")] = i
	}
	for _, need := range []string{"dateRep", "cases", "deaths", "countriesAndTerritories", "geoId", "countryterritoryCode", "popData2019", "continentExp"} {
		if _, ok := col[need]; !ok {
			rep.Status, rep.Error = "rejected", "missing column "+need
			return rep
		}
	}

	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// Unordered: one duplicate (a row stored by an earlier delivery)
		// does not stop the rest of the batch.
		_, err := a.coll.InsertMany(r.Context(), batch, options.InsertMany().SetOrdered(false))
		batch = batch[:0]
		if onlyDuplicates(err) {
			return nil
		}
		return err
	}
	bad := func(why string) {
		rep.RowsRejected++
		if len(rep.BadRows) < 10 {
			line, _ := rd.FieldPos(0)
			rep.BadRows = append(rep.BadRows, fmt.Sprintf("line %d: %s", line, why))
		}
	}
	for {
		row, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := err.(*csv.ParseError); ok {
				bad(err.Error())
				continue
			}
			return fail(err) // the download broke off: retry
		}
		doc, why := toDoc(row, col)
		if why != "" {
			bad(why)
			continue
		}
		batch = append(batch, doc)
		rep.RowsOK++
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return fail(err)
			}
		}
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	return rep
}

// onlyDuplicates reports whether err is nil or says only that some rows
// were already stored (duplicate key, code 11000).
func onlyDuplicates(err error) bool {
	if err == nil {
		return true
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

// toDoc is tenant2's wrangling of one ECDC row.
func toDoc(row []string, col map[string]int) (bson.M, string) {
	if len(row) != len(col) {
		return nil, fmt.Sprintf("%d fields, want %d", len(row), len(col))
	}
	get := func(name string) string { return strings.TrimSpace(row[col[name]]) }
	date, err := time.Parse("2/01/2006", get("dateRep"))
	if err != nil {
		return nil, "bad dateRep " + strconv.Quote(get("dateRep"))
	}
	cases, err1 := strconv.Atoi(get("cases"))
	deaths, err2 := strconv.Atoi(get("deaths"))
	if err1 != nil || err2 != nil {
		return nil, "cases and deaths must be whole numbers"
	}
	var pop any // empty in the source for some territories
	if p := get("popData2019"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, "bad popData2019 " + strconv.Quote(p)
		}
		pop = n
	}
	geo, day := get("geoId"), date.Format("2006-01-02")
	return bson.M{
		"_id":             geo + ":" + day,
		"report_date":     day,
		"country":         get("countriesAndTerritories"),
		"geo_id":          geo,
		"country_code":    strings.ToUpper(get("countryterritoryCode")),
		"cases":           cases,
		"deaths":          deaths,
		"population_2019": pop,
		"continent":       get("continentExp"),
		"ingested_by":     "tenant2-app",
	}, ""
}
