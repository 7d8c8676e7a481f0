// Package bench measures mysimbdp against baselines run side by side in the
// same process and the same run, so that figures are ratios rather than
// absolute numbers of one machine. scripts/bench runs its command; the Go
// benchmarks in this package measure the same paths for benchstat.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latency is the distribution of one path's request latencies.
type Latency struct {
	N             int
	P50, P90, P99 time.Duration
	Mean          time.Duration
}

func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return Latency{N: len(d), P50: at(0.50), P90: at(0.90), P99: at(0.99), Mean: sum / time.Duration(len(d))}
}

// post sends body to url and checks for a 200 with the body echoed back.
func post(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		return fmt.Errorf("POST %s: %d %q", url, resp.StatusCode, got)
	}
	return nil
}

// Sequential sends n requests one after another on one kept-alive
// connection and returns their latencies: the added cost of a hop shows
// here undiluted by queueing.
func Sequential(ctx context.Context, c *http.Client, url string, body []byte, n int) (Latency, error) {
	d := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := post(ctx, c, url, body); err != nil {
			return Latency{}, err
		}
		d = append(d, time.Since(start))
	}
	return summarize(d), nil
}

// Throughput sends n requests from workers concurrent clients and returns
// requests per second.
func Throughput(ctx context.Context, c *http.Client, url string, body []byte, n, workers int) (float64, error) {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := post(ctx, c, url, body); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// NewClient is an HTTP client with enough idle connections for workers.
func NewClient(workers int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: workers * 2, MaxIdleConnsPerHost: workers * 2, IdleConnTimeout: time.Minute}}
}
