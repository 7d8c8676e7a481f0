package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/records"
)

const benchRows = 60_000

// BenchmarkIngestVsRawInsert measures what shared/ingest costs over the
// bare database write: the same ~4.3 MB ECDC CSV goes (a) through the whole
// path — upload to MinIO, event, quota and idempotency checks, streaming
// parse, batched unordered inserts, ingestion record, move to processed/ —
// and (b) as the same documents, parsed beforehand, written with unordered
// InsertMany in batches of the same size into the same FerretDB. Each
// iteration starts from an empty collection. Compare the rows/s metrics.
func BenchmarkIngestVsRawInsert(b *testing.B) {
	data := ecdcCSV(0, benchRows)
	b.Logf("file: %d rows, %d bytes", benchRows, len(data))
	ctx := context.Background()
	limits := `  max_file_size: 64MiB
  max_files_per_window: 1000000
  window: 1s
  formats: [csv]`

	b.Run("ingest", func(b *testing.B) {
		const tenant = "bench-ingest"
		batch := newBatch(b, tenant1Profile(tenant, limits))
		coll := env.db.Database(tenant).Collection("covid_daily")
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := coll.Drop(ctx); err != nil {
				b.Fatal(err)
			}
			key := fmt.Sprintf("incoming/bench-%d.csv", i)
			b.StartTimer()
			rep, err := batch.HandleEvent(ctx, put(b, tenant, key, data))
			if err != nil || rep.RowsOK != benchRows {
				b.Fatalf("%v %+v", err, rep)
			}
		}
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})

	b.Run("raw", func(b *testing.B) {
		const tenant = "bench-raw"
		p, err := profile.Parse([]byte(tenant1Profile(tenant, limits)), "bench")
		if err != nil {
			b.Fatal(err)
		}
		plan, err := records.Compile(p)
		if err != nil {
			b.Fatal(err)
		}
		var docs []any
		rd := plan.NewReader(bytes.NewReader(data), "bench.csv")
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil || rec.Err != nil {
				b.Fatal(err, rec.Err)
			}
			// Kept encoded: no encoding cost in the timed loop, and a
			// pointer-free heap that does not slow the in-process FerretDB
			// down with GC work.
			raw, err := bson.Marshal(append(bson.D{{Key: "_id", Value: records.KeyID(tenant, rec.Key...)}}, rec.Doc...))
			if err != nil {
				b.Fatal(err)
			}
			docs = append(docs, bson.Raw(raw))
		}
		size := records.DefaultPolicy().Count
		coll := env.db.Database(tenant).Collection("covid_daily")
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := coll.Drop(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for j := 0; j < len(docs); j += size {
				if _, err := coll.InsertMany(ctx, docs[j:min(j+size, len(docs))], options.InsertMany().SetOrdered(false)); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
