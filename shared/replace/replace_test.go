package replace_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/replace"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// row is a document of the shapes ingestion builds: strings, integers of
// both widths, a double, a date and a nested document.
func row(i, version int) bson.D {
	return bson.D{
		{Key: "_id", Value: fmt.Sprintf("geo-%04d|2020-03-%02d", i, i%28+1)},
		{Key: "cases", Value: int64(i + version)},
		{Key: "day", Value: int32(i % 28)},
		{Key: "rate", Value: float64(i) / 7},
		{Key: "date", Value: time.Date(2020, 3, i%28+1, 0, 0, 0, 0, time.UTC)},
		{Key: "where", Value: bson.D{{Key: "country", Value: "Xland"}, {Key: "pop", Value: int64(1e6 + i)}}},
	}
}

func rows(from, to, version int) []any {
	out := make([]any, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, row(i, version))
	}
	return out
}

func raws(t *testing.T, docs []any) []any {
	out := make([]any, len(docs))
	for i, d := range docs {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = bson.Raw(b)
	}
	return out
}

// TestReplace: documents whose insert met a stored key are compared with
// it, on FerretDB; unchanged ones are counted and left, changed ones
// stored, the last of a key's versions wins, and nothing else moves.
func TestReplace(t *testing.T) {
	_, client := harness.FerretDB(t)
	cases := []struct {
		name          string
		raw           bool
		again         func() []any // given to Replace after rows(0, 100, 0) are stored
		wantUnchanged int
		wantReplaced  int
		wantCases     func(i int) int64 // stored cases of row i
	}{
		{"unchanged rows are left alone", false, func() []any { return rows(0, 100, 0) }, 100, 0,
			func(i int) int64 { return int64(i) }},
		{"unchanged raw records are left alone", true, func() []any { return rows(0, 100, 0) }, 100, 0,
			func(i int) int64 { return int64(i) }},
		{"changed rows are replaced, the others left", false, func() []any {
			docs := rows(0, 100, 0)
			for i := 0; i < 100; i += 10 {
				docs[i] = row(i, 5000)
			}
			return docs
		}, 90, 10, func(i int) int64 {
			if i%10 == 0 {
				return int64(i + 5000)
			}
			return int64(i)
		}},
		{"of a key's versions the last wins", true, func() []any {
			return append(append(rows(0, 50, 1), rows(0, 50, 2)...), rows(0, 50, 3)...)
		}, 0, 50, func(i int) int64 {
			if i < 50 {
				return int64(i + 3)
			}
			return int64(i)
		}},
		{"a version equal to the stored one, after another, is stored", false, func() []any {
			return append(rows(0, 20, 9), rows(0, 20, 0)...)
		}, 20, 0, func(i int) int64 { return int64(i) }},
	}
	for n, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			coll := client.Database("replace").Collection(fmt.Sprintf("c%d", n))
			if _, err := coll.InsertMany(ctx, rows(0, 100, 0)); err != nil {
				t.Fatal(err)
			}
			docs := tc.again()
			if tc.raw {
				docs = raws(t, docs)
			}
			var r replace.Runner
			res, refused, err := r.Replace(ctx, coll, docs)
			if err != nil || len(refused) > 0 {
				t.Fatalf("Replace: %v, refused %v", err, refused)
			}
			if res.Unchanged != tc.wantUnchanged || res.Replaced != tc.wantReplaced {
				t.Errorf("unchanged %d, replaced %d; want %d, %d", res.Unchanged, res.Replaced, tc.wantUnchanged, tc.wantReplaced)
			}
			cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
			if err != nil {
				t.Fatal(err)
			}
			var stored []bson.D
			if err := cur.All(ctx, &stored); err != nil {
				t.Fatal(err)
			}
			if len(stored) != 100 {
				t.Fatalf("%d documents stored, want 100", len(stored))
			}
			for i, d := range stored {
				want := row(i, int(tc.wantCases(i)-int64(i)))
				got, _ := bson.Marshal(d)
				exp, _ := bson.Marshal(want)
				if string(got) != string(exp) {
					t.Errorf("row %d stored as %v, want %v", i, d, want)
				}
			}
		})
	}
}

// TestLastPerID: of a key's versions the last stays, in its place.
func TestLastPerID(t *testing.T) {
	docs := []any{row(1, 0), row(2, 0), row(1, 7), row(3, 0), row(2, 8)}
	got := replace.LastPerID(docs)
	want := []any{row(1, 7), row(3, 0), row(2, 8)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LastPerID = %v, want %v", got, want)
	}
}
