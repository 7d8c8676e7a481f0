package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/ingest"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// quarantineSample is how many quarantined rows a file's page shows.
const quarantineSample = 10

type quarantinedRow struct {
	Line   int    `bson:"line"`
	Field  string `bson:"field"`
	Reason string `bson:"reason"`
	Raw    string `bson:"raw"`
}

type fileView struct {
	page
	File              fileDoc
	Bucket, Key, ETag string
	// Report is the report as the stats function stored it; Record the
	// batch app's ingestion record, which has every figure of the report
	// (quality figures too, where the app reports them).
	Report, Record [][2]string
	Quarantine     []quarantinedRow
	Collection     string
	Problems       []string
}

// MakeFileHandler serves GET /ui/file?id=<bucket/key@etag>: one finished
// file's report, its ingestion record and a sample of its quarantined rows.
func MakeFileHandler(d Deps, pages *pages) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		ctx, cancel := context.WithTimeout(r.Context(), d.SourceTimeout)
		defer cancel()
		db := d.Mongo.Database(d.PlatformDB)
		v := fileView{page: pages.base(r, "file "+id)}
		err := db.Collection(stats.FilesCollection).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&v.File)
		if errors.Is(err, mongo.ErrNoDocuments) {
			http.Error(w, "no finished file "+id, http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, fmt.Sprintf("read file %s: %v", id, err), http.StatusBadGateway)
			return
		}
		v.Bucket, v.Key, v.ETag = v.File.parts()
		problem := func(what string, err error) { v.Problems = append(v.Problems, what+": "+err.Error()) }

		if v.Report, err = fieldsByID(ctx, db.Collection(stats.ReportsCollection), v.File.Report); err != nil {
			problem("report", err)
		}
		// The tenant's database holds the batch app's record and the
		// quarantine.
		profiles, err := readProfiles(ctx, d.JetStream)
		p := profiles[v.File.Tenant]
		if p == nil && err == nil {
			err = fmt.Errorf("tenant %s has no published profile", v.File.Tenant)
		}
		if err != nil {
			problem("profile", err)
		} else {
			// The batch app's record: tenant/bucket/key@etag (shared/ingest).
			records := d.Mongo.Database(p.Sink.Database).Collection(ingest.IngestionsCollection)
			if v.Record, err = fieldsByID(ctx, records, v.File.Tenant+"/"+v.File.ID); err != nil {
				problem("ingestion record", err)
			}
			if v.File.RowsRejected > 0 {
				if err := quarantine(ctx, d, p, &v); err != nil {
					problem("quarantined rows", err)
				}
			}
		}
		pages.render(w, "file", v)
	}
}

// quarantine reads a sample of the file's rejected rows from the tenant's
// <collection>_rejected.
func quarantine(ctx context.Context, d Deps, p *profile.Profile, v *fileView) error {
	set, ok := p.DatasetOfKey(v.Key)
	if !ok {
		return nil // a file no dataset took has no quarantine
	}
	coll := set.Sink.Collection + profile.QuarantineSuffix
	v.Collection = p.Sink.Database + "." + coll
	cur, err := d.Mongo.Database(p.Sink.Database).Collection(coll).Find(ctx,
		bson.D{{Key: "file", Value: v.Key}, {Key: "etag", Value: v.ETag}},
		options.Find().SetLimit(quarantineSample))
	if err != nil {
		return err
	}
	return cur.All(ctx, &v.Quarantine)
}

// fieldsByID reads one document by _id as name/value pairs; none is no
// error (a tenant's own app keeps no ingestion record).
func fieldsByID(ctx context.Context, coll *mongo.Collection, id string) ([][2]string, error) {
	if id == "" {
		return nil, nil
	}
	var doc bson.D
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, e := range doc {
		if e.Key == "_id" {
			continue
		}
		out = append(out, [2]string{e.Key, valueText(e.Value)})
	}
	return out, nil
}

func valueText(v any) string {
	switch x := v.(type) {
	case bson.DateTime:
		return x.Time().UTC().Format(time.RFC3339Nano)
	case bson.D, bson.A:
		b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: x}}, false, false)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b[len(`{"v":`) : len(b)-1])
	}
	return fmt.Sprint(v)
}
