package scratch

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/records"
	"github.com/mysimbdp/mysimbdp/tests/bench"
)

func BenchmarkParse(b *testing.B) {
	_, prof, err := bench.StreamProfile("../..", "bench")
	if err != nil {
		b.Fatal(err)
	}
	plan, err := records.Compile(prof)
	if err != nil {
		b.Fatal(err)
	}
	data := make([][]byte, 1000)
	for i := range data {
		data[i] = ecdc.JSON(i)
	}
	i := 0
	for b.Loop() {
		rec := plan.Message(1, data[i%1000])
		raw, _ := bson.Marshal(append(bson.D{{Key: "_id", Value: records.KeyID("bench", rec.Key...)}}, rec.Doc...))
		_ = raw
		i++
	}
}
