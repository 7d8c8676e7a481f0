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

func TestRepl(t *testing.T) {
	ctx := context.Background()
	for _, tc := range [][2]int{{7, 40}, {4, 50}, {8, 10}, {16, 10}} {
		s, err := ferret.Start(ctx, ferret.Config{DataDir: t.TempDir()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := mongo.Connect(options.Client().ApplyURI(s.URI()))
		coll := c.Database("b").Collection("c")
		k, n := tc[0], tc[1]
		var docs []any
		for i := 0; i < k*n; i++ {
			docs = append(docs, bson.M{"_id": fmt.Sprint(i), "v": 1})
		}
		coll.InsertMany(ctx, docs)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var wg sync.WaitGroup
		var failed error
		for j := 0; j < k; j++ {
			wg.Go(func() {
				var models []mongo.WriteModel
				for i := j * n; i < (j+1)*n; i++ {
					models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.M{"_id": fmt.Sprint(i)}).SetReplacement(bson.M{"_id": fmt.Sprint(i), "v": 2}).SetUpsert(true))
				}
				if _, err := coll.BulkWrite(wctx, models); err != nil {
					failed = err
				}
			})
		}
		wg.Wait()
		cancel()
		t.Logf("k=%d n=%d total=%d: err=%v", k, n, k*n, failed)
		c.Disconnect(ctx)
		s.Stop()
	}
}
