package stream

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/records"
)

const benchRecords = 10_000

// BenchmarkStreamBatchSizes measures stream ingestion by the size of the
// batches the connector delivers: the same 10k ECDC records go (a) through
// Ingester.Handle — decode, coerce, wrangle, deterministic ids, one
// unordered bulk write per batch, window accounting — and (b) as the same
// documents, built and encoded beforehand, with a bare unordered
// InsertMany per batch of the same size into the same FerretDB. Each
// iteration starts from an empty collection. Compare the records/s
// metrics per size; run with -benchtime=1x (size 1 is 10k round trips).
func BenchmarkStreamBatchSizes(b *testing.B) {
	p := startPlatform(b)
	ctx := context.Background()
	for _, size := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("handle/size=%d", size), func(b *testing.B) {
			tenant := fmt.Sprintf("bench-handle-%d", size)
			in := p.ingester(b, tenant1Profile(tenant, "5s"))
			coll := p.db.Database(tenant).Collection("covid_daily")
			batches := split(ecdcBatch(tenant, 0, benchRecords, 0), size)
			for b.Loop() {
				b.StopTimer()
				if err := coll.Drop(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, batch := range batches {
					resp, err := in.Handle(ctx, batch)
					if err != nil || len(resp.BatchItemFailures) != 0 {
						b.Fatal(err, failures(resp))
					}
				}
			}
			b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
			checkCount(b, coll.Name(), count(b, coll))
		})

		b.Run(fmt.Sprintf("raw-insertmany/size=%d", size), func(b *testing.B) {
			tenant := fmt.Sprintf("bench-raw-%d", size)
			docs := rawDocs(b, tenant)
			coll := p.db.Database(tenant).Collection("covid_daily")
			for b.Loop() {
				b.StopTimer()
				if err := coll.Drop(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for from := 0; from < len(docs); from += size {
					if _, err := coll.InsertMany(ctx, docs[from:min(from+size, len(docs))], options.InsertMany().SetOrdered(false)); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(benchRecords*b.N)/b.Elapsed().Seconds(), "records/s")
			checkCount(b, coll.Name(), count(b, coll))
		})
	}
}

func checkCount(b *testing.B, name string, n int64) {
	if n != benchRecords {
		b.Fatalf("%s holds %d documents, want %d", name, n, benchRecords)
	}
}

// split cuts a batch into batches of size records.
func split(all contract.Batch, size int) []contract.Batch {
	var out []contract.Batch
	for from := 0; from < len(all.Records); from += size {
		out = append(out, contract.Batch{Tenant: all.Tenant, Records: all.Records[from:min(from+size, len(all.Records))]})
	}
	return out
}

// rawDocs are the documents Handle stores for the bench records, encoded
// beforehand so that the raw path pays for nothing but the write.
func rawDocs(b *testing.B, tenant string) []any {
	prof, err := profile.Parse([]byte(tenant1Profile(tenant, "5s")), "bench")
	if err != nil {
		b.Fatal(err)
	}
	plan, err := records.Compile(prof)
	if err != nil {
		b.Fatal(err)
	}
	docs := make([]any, 0, benchRecords)
	for i, r := range ecdcBatch(tenant, 0, benchRecords, 0).Records {
		rec := plan.Message(i+1, r.Data)
		if rec.Err != nil {
			b.Fatal(rec.Err)
		}
		raw, err := bson.Marshal(append(bson.D{{Key: "_id", Value: records.KeyID(tenant, rec.Key...)}}, rec.Doc...))
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, bson.Raw(raw))
	}
	return docs
}
