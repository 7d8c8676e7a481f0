package scratch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/ferret"
)

func TestConc(t *testing.T) {
	ctx := context.Background()
	s, err := ferret.Start(ctx, ferret.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
	if err != nil {
		t.Fatal(err)
	}
	n := 20000
	for round, bs := range []int{100, 200, 500, 1000, 100, 200, 500, 1000} {
		w := 1
		coll := c.Database("b").Collection(fmt.Sprintf("c%d", round))
		_, _ = coll.InsertOne(ctx, bson.M{"x": 1})
		ch := make(chan []any, 8)
		go func() {
			for i := 0; i < n; i += bs {
				var docs []any
				for j := i; j < i+bs; j++ {
					docs = append(docs, bson.M{"_id": fmt.Sprintf("id-%d", j), "country": "Finland", "cases": j, "deaths": 3, "date": "2020-03-01", "geo": "FI", "pop": 5500000, "continent": "Europe"})
				}
				ch <- docs
			}
			close(ch)
		}()
		start := time.Now()
		var wg sync.WaitGroup
		for k := 0; k < w; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for docs := range ch {
					if _, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		t.Logf("batch %d: %.0f docs/s", bs, float64(n)/time.Since(start).Seconds())
	}
}
