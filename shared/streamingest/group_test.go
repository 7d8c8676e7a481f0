package streamingest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The grouping itself, with a write that records what it was given: which
// batches share a command, and how each gets its share of the outcome.
// Against the real store, tests/stream TestConcurrentBatchesShareWrites.
func TestInserterGroups(t *testing.T) {
	docs := func(n int) []any { return make([]any, n) }
	for _, tc := range []struct {
		name    string
		maxDocs int
		// first is written alone while queued wait behind it.
		first  int
		queued []int
		// want is the document count of each write after the first.
		want []int
	}{
		{"queued batches share one write", 1000, 10, []int{10, 20, 30}, []int{60}},
		{"up to maxDocs", 5, 2, []int{2, 2, 2}, []int{4, 2}},
		{"a batch over maxDocs goes alone", 5, 1, []int{9, 1}, []int{9, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var mu sync.Mutex
			var writes []int
			g := newInserterFunc(tc.maxDocs, func(ctx context.Context, d []any) error {
				mu.Lock()
				writes = append(writes, len(d))
				first := len(writes) == 1
				mu.Unlock()
				if first {
					<-release
				}
				return nil
			})
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = g.write(t.Context(), docs(tc.first)) })
			waitQueued(t, g, 1)
			for i, n := range tc.queued {
				wg.Go(func() { _, _ = g.write(t.Context(), docs(n)) })
				waitQueued(t, g, 2+i) // in this order
			}
			close(release)
			wg.Wait()
			if want := append([]int{tc.first}, tc.want...); !slices.Equal(writes, want) {
				t.Fatalf("writes of %v documents, want %v", writes, want)
			}
		})
	}
}

func TestInserterShares(t *testing.T) {
	dup := func(i int) mongo.BulkWriteError {
		return mongo.BulkWriteError{WriteError: mongo.WriteError{Index: i, Code: 11000, Message: "dup"}}
	}
	whole := errors.New("connection reset")
	for _, tc := range []struct {
		name     string
		err      error
		wantErrs [][]int // per batch, the indexes refused
		wantErr  error
	}{
		{"no error", nil, [][]int{nil, nil, nil}, nil},
		{"errors by index", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{dup(5), dup(0), dup(3), dup(2), dup(6)}},
			[][]int{{0, 2}, {0}, {1, 2}}, nil},
		{"a write concern error fails all", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{dup(0)}, WriteConcernError: &mongo.WriteConcernError{Code: 64}},
			nil, mongo.BulkWriteException{}},
		{"an index out of range fails all", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{dup(7)}}, nil, mongo.BulkWriteException{}},
		{"a whole failure fails all", whole, nil, whole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var mu sync.Mutex
			calls := 0
			g := newInserterFunc(0, func(ctx context.Context, d []any) error {
				mu.Lock()
				calls++
				first := calls == 1
				mu.Unlock()
				if first { // a batch of 1 ahead, so that the three share
					<-release
					return nil
				}
				if len(d) != 7 {
					t.Errorf("shared write of %d documents, want 7", len(d))
				}
				return tc.err
			})
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = g.write(t.Context(), make([]any, 1)) })
			waitQueued(t, g, 1)
			sizes := []int{3, 1, 3} // documents 0-2, 3, 4-6 of the shared write
			got := make([][]int, len(sizes))
			errs := make([]error, len(sizes))
			for i, n := range sizes {
				wg.Go(func() {
					we, err := g.write(t.Context(), make([]any, n))
					errs[i] = err
					for _, e := range we {
						got[i] = append(got[i], e.Index)
					}
				})
				waitQueued(t, g, 2+i)
			}
			close(release)
			wg.Wait()
			for i := range sizes {
				if tc.wantErr != nil {
					if errs[i] == nil || (errors.Is(tc.wantErr, whole) && !errors.Is(errs[i], whole)) || got[i] != nil {
						t.Errorf("batch %d: error %v, refused %v; want the whole write's error", i, errs[i], got[i])
					}
					continue
				}
				if errs[i] != nil || !slices.Equal(got[i], tc.wantErrs[i]) {
					t.Errorf("batch %d: error %v, refused %v; want refused %v", i, errs[i], got[i], tc.wantErrs[i])
				}
			}
		})
	}
}

// A batch whose invocation ends (its context cancelled) while it writes
// for others does not fail their write.
func TestInserterWriteOutlivesTheHeadsContext(t *testing.T) {
	g := newInserterFunc(0, func(ctx context.Context, d []any) error { return ctx.Err() })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := g.write(ctx, make([]any, 3)); err != nil {
		t.Fatalf("write with a cancelled context: %v", err)
	}
}

// waitQueued waits until n calls are queued (the first is writing).
func waitQueued(t *testing.T, g *inserter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		q := len(g.queue)
		g.mu.Unlock()
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued after 10s, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}
