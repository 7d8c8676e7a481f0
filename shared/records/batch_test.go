package records

import (
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestBatcher(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		b := NewBatcher[int](Policy{Count: 3})
		var got [][]int
		for i := range 7 {
			if batch := b.Add(i, 1); batch != nil {
				got = append(got, batch)
			}
		}
		got = append(got, b.Flush())
		if len(got) != 3 || len(got[0]) != 3 || len(got[1]) != 3 || len(got[2]) != 1 || got[2][0] != 6 {
			t.Errorf("batches %v", got)
		}
		if b.Flush() != nil {
			t.Error("second flush not nil")
		}
	})
	t.Run("bytes", func(t *testing.T) {
		b := NewBatcher[string](Policy{Count: 100, ByteSize: 10})
		var got [][]string
		for _, s := range []string{"aaaa", "bbbb", "cc", "dddd", "eeeeeeeeeeeeeeee", "f"} {
			if batch := b.Add(s, int64(len(s))); batch != nil {
				got = append(got, batch)
			}
		}
		got = append(got, b.Flush())
		want := "aaaa bbbb cc|dddd|eeeeeeeeeeeeeeee|f"
		var parts []string
		for _, g := range got {
			parts = append(parts, strings.Join(g, " "))
		}
		if s := strings.Join(parts, "|"); s != want {
			t.Errorf("batches %s, want %s", s, want)
		}
	})
	t.Run("count 1 after an overflow", func(t *testing.T) {
		b := NewBatcher[int](Policy{Count: 1, ByteSize: 5})
		var sizes []int
		for i := range 4 {
			if batch := b.Add(i, 4); batch != nil {
				sizes = append(sizes, len(batch))
			}
		}
		for _, n := range sizes {
			if n > 1 {
				t.Errorf("batch of %d, want at most 1: %v", n, sizes)
			}
		}
	})
	t.Run("period", func(t *testing.T) {
		now := time.Unix(0, 0)
		b := NewBatcher[int](Policy{Count: 100, Period: time.Second})
		b.now = func() time.Time { return now }
		if b.Add(1, 1) != nil || b.Due() {
			t.Fatal("ready too early")
		}
		if d, ok := b.Deadline(); !ok || !d.Equal(now.Add(time.Second)) {
			t.Errorf("deadline %v %v", d, ok)
		}
		now = now.Add(time.Second)
		if !b.Due() {
			t.Error("not due after the period")
		}
		// The old batch goes; the new item starts the next one.
		if batch := b.Add(2, 1); len(batch) != 1 || batch[0] != 1 || b.Len() != 1 {
			t.Errorf("batch after the period: %v, pending %d", batch, b.Len())
		}
	})
}

func TestDocSize(t *testing.T) {
	pl := compile(t, ecdcProfile("  derive: [{name: c, op: constant, value: x}]\n"))
	for _, in := range []string{afJSON, jpJSON} {
		rec := pl.Message(1, []byte(in))
		if rec.Err != nil {
			t.Fatal(rec.Err)
		}
		doc := append(rec.Doc, bson.E{Key: "t", Value: time.Unix(5, 0)}, bson.E{Key: "b", Value: true}, bson.E{Key: "f", Value: 1.5}, bson.E{Key: "nested", Value: bson.D{{Key: "a", Value: int32(1)}}})
		b, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if got := DocSize(doc); got != int64(len(b)) {
			t.Errorf("DocSize = %d, BSON is %d bytes", got, len(b))
		}
	}
}
