package connector

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestRoutingByFolder: a tenant's function on s3:<bucket>/<prefix> takes
// the files of that folder and the one on s3:<bucket> the rest; a file no
// function of the tenant takes is dead-lettered at once with the reason;
// a function of another tenant on the folder gets nothing.
func TestRoutingByFolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	platform := e.deploy(fnSpec{name: "rt1-batch", tenant: "rt1", topic: "s3:rt1"})
	own := e.deploy(fnSpec{name: "rt1-vacc", tenant: "rt1", topic: "s3:rt1/incoming/vacc/"})
	// rt2 ingests its one dataset with its own app: no catch-all.
	own2 := e.deploy(fnSpec{name: "rt2-vacc", tenant: "rt2", topic: "s3:rt2/incoming/vacc/"})
	// rt3's function (mis)declares rt1's folder besides its own bucket.
	evil := e.deploy(fnSpec{name: "rt3-batch", tenant: "rt3", topic: "s3:rt3, s3:rt1/incoming/x/"})
	e.start()

	events := []struct {
		bucket, key string
		dir         string // "": nobody's
		topic       string
	}{
		{"rt1", "incoming/vacc/a.csv", own, "s3:rt1/incoming/vacc/"},
		{"rt1", "incoming/cases/b.csv", platform, "s3:rt1"},
		{"rt1", "incoming/x/c.csv", platform, "s3:rt1"},
		{"rt1", "incoming/vaccx/d.csv", platform, "s3:rt1"},
		{"rt2", "incoming/vacc/e.csv", own2, "s3:rt2/incoming/vacc/"},
		{"rt2", "incoming/foo/x.csv", "", ""},
		{"rt3", "incoming/f.csv", evil, "s3:rt3"},
	}
	var last uint64
	for _, ev := range events {
		last = e.publish(s3Event("s3:ObjectCreated:Put", ev.bucket, ev.key))
	}
	harness.Until(t, 30*time.Second, "every event's outcome", func() (bool, string) {
		n := len(calls(t, own)) + len(calls(t, platform)) + len(calls(t, own2)) + len(calls(t, evil))
		dl := e.deadLetter("rt2") != nil
		return n >= len(events)-1 && dl, fmt.Sprintf("%d calls, rt2's dead letter %v", n, dl)
	})
	e.waitIdle(last, 20*time.Second)

	got := map[string][]string{}
	for _, dir := range []string{own, platform, own2, evil} {
		for _, c := range calls(t, dir) {
			got[dir] = append(got[dir], c.Headers["X-Topic"]+" "+c.Body)
		}
	}
	for _, ev := range events {
		if ev.dir == "" {
			continue
		}
		want := ev.topic + " " + string(s3Event("s3:ObjectCreated:Put", ev.bucket, ev.key))
		if !slices.Contains(got[ev.dir], want) {
			t.Errorf("%s/%s: not delivered on %s to its function; that function got %q", ev.bucket, ev.key, ev.topic, got[ev.dir])
		}
	}
	for dir, n := range map[string]int{own: 1, platform: 3, own2: 1, evil: 1} {
		if len(got[dir]) != n {
			t.Errorf("function of %s called %d times, want %d: %q", dir, len(got[dir]), n, got[dir])
		}
	}

	m := e.deadLetter("rt2")
	if m == nil {
		t.Fatal("no dead letter for rt2's file under an unknown folder")
	}
	reason := m.Header.Get(contract.DeadLetterHeaderReason)
	if want := "no function of tenant rt2 takes incoming/foo/x.csv: its functions subscribe to s3:rt2/incoming/vacc/"; !strings.Contains(reason, want) {
		t.Errorf("dead-letter reason %q, want it to contain %q", reason, want)
	}
	// At once: no attempt spent, nothing retried.
	if a := m.Header.Get(contract.DeadLetterHeaderAttempts); a != "0" {
		t.Errorf("dead letter after %s attempts, want 0", a)
	}
	if metrics := e.metricsText(); strings.Contains(metrics, `mysimbdp_connector_retries_total{function_name=""}`) {
		t.Errorf("an unroutable event was retried:\n%s", metrics)
	}
	if m := e.deadLetter("rt1"); m != nil {
		t.Errorf("unexpected dead letter for rt1: %v", m.Header)
	}
}
