package bench

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// rig is shared by the benchmarks of one `go test -bench` run; building
// echo and starting the provider once keeps setup out of every b.N.
var (
	rigOnce sync.Once
	rigVal  *ProviderRig
	rigErr  error
	rigDir  string
)

func sharedRig(b *testing.B) *ProviderRig {
	b.Helper()
	rigOnce.Do(func() {
		rigDir, rigErr = os.MkdirTemp("", "mysimbdp-bench")
		if rigErr == nil {
			rigVal, rigErr = StartProviderRig(context.Background(), "../..", rigDir)
		}
	})
	if rigErr != nil {
		b.Fatal(rigErr)
	}
	return rigVal
}

func TestMain(m *testing.M) {
	code := m.Run()
	if rigVal != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rigVal.Close(ctx)
		cancel()
	}
	if rigDir != "" {
		os.RemoveAll(rigDir)
	}
	os.Exit(code)
}

// BenchmarkInvoke compares one request straight to a replica with the same
// request through the provider; the difference per op is the added latency.
func BenchmarkInvoke(b *testing.B) {
	r := sharedRig(b)
	body := []byte(strings.Repeat("x", 256))
	for _, path := range []struct{ name, url string }{{"direct", r.DirectURL}, {"provider", r.ProxiedURL}} {
		b.Run(path.name, func(b *testing.B) {
			c := NewClient(1)
			ctx := context.Background()
			for b.Loop() {
				if err := post(ctx, c, path.url, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkColdStart times a request to a function at zero replicas until
// its answer.
func BenchmarkColdStart(b *testing.B) {
	r := sharedRig(b)
	ctx := context.Background()
	var total time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		d, err := r.ColdStart(ctx)
		b.StartTimer()
		if err != nil {
			b.Fatal(err)
		}
		total += d
		n++
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/first-answer")
}
