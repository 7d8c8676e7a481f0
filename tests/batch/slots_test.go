package batch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// breakingS3 is a reverse proxy in front of the test's MinIO that
// refuses the first download of each object named in breakOnce (403
// AccessDenied, which S3 clients do not retry), as when credentials are
// rotated during an ingestion: the attempt fails after the file claimed
// its slot.
type breakingS3 struct {
	mu        sync.Mutex
	breakOnce map[string]bool // path /bucket/key
	srv       *httptest.Server
}

func newBreakingS3(t *testing.T, paths ...string) *breakingS3 {
	t.Helper()
	target, err := url.Parse("http://" + env.s3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	b := &breakingS3{breakOnce: map[string]bool{}}
	for _, p := range paths {
		b.breakOnce[p] = true
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.RawQuery == "" {
			b.mu.Lock()
			refuse := b.breakOnce[r.URL.Path]
			delete(b.breakOnce, r.URL.Path)
			b.mu.Unlock()
			if refuse {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>refused by the test</Message></Error>`)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// TestFailedAttemptGivesItsSlotBack: with max_files_per_window 2, two
// files whose first read breaks off do not use the window up; a third
// file is read in the same window, the two are read on their retries,
// and no window ever sees more than two files read.
func TestFailedAttemptGivesItsSlotBack(t *testing.T) {
	const tenant = "slotback"
	const window = 5 * time.Second
	prof := tenant1Profile(tenant, `  max_files_per_window: 2
  window: 5s`)
	makeBucket(t, tenant)
	files := []string{"incoming/a.csv", "incoming/b.csv", "incoming/c.csv"}
	var evs []events.S3Event
	for i, f := range files {
		evs = append(evs, put(t, tenant, f, ecdcCSV(i*40, (i+1)*40)))
	}
	proxy := newBreakingS3(t, "/"+tenant+"/"+files[0], "/"+tenant+"/"+files[1])
	vars := getenv(prof)
	b := newBatchFrom(t, func(k string) string {
		if k == contract.EnvS3Endpoint {
			return strings.TrimPrefix(proxy.srv.URL, "http://")
		}
		return vars(k)
	})

	awaitWindowRoom(window, window-time.Second)
	perWindow := map[time.Time]int{}
	read := func(rep contract.BatchReport) { perWindow[rep.StartedAt.Truncate(window)]++ }
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rep, err := b.HandleEvent(ctx, evs[i])
		cancel()
		if err == nil || rep.Status != contract.StatusFailed {
			t.Fatalf("%s's first attempt: %v %+v, want it failed (the read was cut)", files[i], err, rep)
		}
	}
	// The failed attempts gave their slots back: c is read now.
	if rep := handle(t, b, evs[2]); rep.Status != contract.StatusDone || rep.RowsOK != 40 {
		t.Fatalf("%s after two failed attempts: %+v, want done: failed attempts must not hold slots", files[2], rep)
	} else {
		read(rep)
	}
	// The retries: one fits the window, the other waits for the next.
	pending := []events.S3Event{evs[0], evs[1]}
	deadline := time.Now().Add(30 * time.Second)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d files still deferred at the deadline", len(pending))
		}
		var still []events.S3Event
		var wait time.Duration
		for _, ev := range pending {
			switch rep := handle(t, b, ev); rep.Status {
			case contract.StatusDone:
				read(rep)
			case contract.StatusDeferred:
				still, wait = append(still, ev), max(wait, rep.RetryAfter)
			default:
				t.Fatalf("retry: %+v", rep)
			}
		}
		pending = still
		if len(pending) > 0 {
			<-time.After(wait) // the time the platform asked for
		}
	}
	for w, n := range perWindow {
		if n > 2 {
			t.Errorf("%d files read in the %s window from %s", n, window, w.Format(time.TimeOnly))
		}
	}
	if n := count(t, tenant, "covid_daily", nil); n != 120 {
		t.Errorf("%d documents, want 120", n)
	}
	for _, f := range files {
		if exists(t, tenant, f) || !exists(t, tenant, ingest.Destination(f, contract.StatusDone)) {
			t.Errorf("%s did not move to processed/", f)
		}
	}
}
