package connector

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestTenantIsolation: an event of bucket tenant1 reaches tenant1's
// function with the headers and the body intact, and never tenant2's
// function, although that one (mis)declares topic s3:tenant1.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir1 := e.deploy(fnSpec{name: "ingest1", tenant: "tenant1", topic: "s3:tenant1"})
	dir2 := e.deploy(fnSpec{name: "ingest2", tenant: "tenant2", topic: "s3:tenant2, s3:tenant1"})
	e.start()

	body := s3Event("s3:ObjectCreated:Put", "tenant1", "incoming/a b.csv")
	seq := e.publish(body)
	harness.Until(t, 20*time.Second, "tenant1's function to be called", func() (bool, string) {
		n := len(calls(t, dir1))
		return n >= 1, fmt.Sprintf("%d calls", n)
	})
	// tenant2's own event proves its function is routed and alive, so its
	// silence about tenant1's event means something.
	seq2 := e.publish(s3Event("s3:ObjectCreated:Put", "tenant2", "incoming/b.csv"))
	harness.Until(t, 20*time.Second, "tenant2's function to be called", func() (bool, string) {
		n := len(calls(t, dir2))
		return n >= 1, fmt.Sprintf("%d calls", n)
	})
	e.waitIdle(max(seq, seq2), 10*time.Second)

	c1 := calls(t, dir1)
	if len(c1) != 1 {
		t.Fatalf("tenant1's function called %d times, want 1", len(c1))
	}
	want := map[string]string{
		"X-Topic":             "s3:tenant1",
		"X-Mysimbdp-Tenant":   "tenant1",
		"X-Mysimbdp-Event-Id": fmt.Sprint(seq),
		"X-Mysimbdp-Delivery": "1",
		"Content-Type":        "application/json",
	}
	for k, v := range want {
		if got := c1[0].Headers[k]; got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if c1[0].Body != string(body) {
		t.Errorf("body changed on the way:\n got %s\nwant %s", c1[0].Body, body)
	}
	c2 := calls(t, dir2)
	if len(c2) != 1 || c2[0].Headers["X-Mysimbdp-Tenant"] != "tenant2" {
		t.Fatalf("tenant2's function calls = %+v, want exactly its own event", c2)
	}
	if m := e.deadLetter("tenant1"); m != nil {
		t.Errorf("unexpected dead letter for tenant1: %v", m.Header)
	}
}

// TestDelivery covers how answers settle events, one tenant per case, all
// on one connector.
func TestDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type tc struct {
		tenant    string
		fnEnv     map[string]string // nil: no function deployed
		events    [][]byte
		wantCalls int
		// atLeast makes wantCalls a lower bound (the count depends on
		// timing).
		atLeast bool
		// wantDL, if set, is a substring of the dead letter's reason.
		wantDL string
	}
	created := func(tenant string) [][]byte {
		return [][]byte{s3Event("s3:ObjectCreated:Put", tenant, "incoming/data.csv")}
	}
	cases := []tc{
		{tenant: "ok", fnEnv: map[string]string{"S3FN_MODE": "ok"}, wantCalls: 1},
		{tenant: "flaky", fnEnv: map[string]string{"S3FN_MODE": "failN", "S3FN_N": "2"}, wantCalls: 3},
		{tenant: "broken", fnEnv: map[string]string{"S3FN_MODE": "fail"}, wantCalls: 3, wantDL: "answered 500: boom"},
		// More deferrals than MaxAttempts: still delivered, never dead-lettered.
		{tenant: "quota", fnEnv: map[string]string{"S3FN_MODE": "defer", "S3FN_N": "4"}, wantCalls: 5},
		// Longer than AckWait (1s): the ack deadline is extended, so the
		// file is ingested once.
		{tenant: "slow", fnEnv: map[string]string{"S3FN_MODE": "sleep", "S3FN_SLEEP": "3500ms"}, wantCalls: 1},
		// Slower than its exec_timeout: fnrun's marked 503 is a failure,
		// not a deferral, so the event is dead-lettered after MaxAttempts.
		{tenant: "timeout", fnEnv: map[string]string{"S3FN_MODE": "sleep", "S3FN_SLEEP": "3s", "exec_timeout": "200ms"},
			wantCalls: 3, wantDL: "answered 503: function exceeded exec_timeout of 200ms"},
		// An outage (503, Retry-After) spends no attempt; past
		// UnavailableDeadline the event is dead-lettered with the answer.
		{tenant: "down", fnEnv: map[string]string{"S3FN_MODE": "down"}, wantCalls: 2, atLeast: true,
			wantDL: "(deadline 3s): function down-ingest.openfaas-fn answered 503: store unavailable"},
		{tenant: "nobody", wantDL: "no function subscribed to s3:nobody"},
		{tenant: "ignored", fnEnv: map[string]string{"S3FN_MODE": "ok"}, events: [][]byte{
			s3Event("s3:ObjectRemoved:Delete", "ignored", "incoming/data.csv"),
			s3Event("s3:ObjectCreated:Put", "ignored", "outgoing/data.csv"),
			s3Event("s3:ObjectAccessed:Get", "ignored", "incoming/data.csv"),
		}},
		{tenant: core.UnknownTenant, events: [][]byte{[]byte(`{"Records": "not a list"}`)}, wantDL: "undecodable S3 event"},
	}
	dirs := map[string]string{}
	for _, c := range cases {
		if c.fnEnv != nil {
			dirs[c.tenant] = e.deploy(fnSpec{name: c.tenant + "-ingest", tenant: c.tenant, topic: "s3:" + c.tenant, env: c.fnEnv})
		}
	}
	e.start(func(c *Config) { c.UnavailableDeadline = 3 * time.Second })
	var last uint64
	for _, c := range cases {
		evs := c.events
		if evs == nil {
			evs = created(c.tenant)
		}
		for _, ev := range evs {
			last = e.publish(ev)
		}
	}
	for _, c := range cases {
		harness.Until(t, 30*time.Second, c.tenant+"'s outcome", func() (bool, string) {
			n := 0
			if d, ok := dirs[c.tenant]; ok {
				n = len(calls(t, d))
			}
			dl := c.wantDL == "" || e.deadLetter(c.tenant) != nil
			return n >= c.wantCalls && dl, fmt.Sprintf("%d calls, dead letter present %v", n, dl)
		})
	}
	e.waitIdle(last, 20*time.Second)

	for _, c := range cases {
		t.Run(c.tenant, func(t *testing.T) {
			if d, ok := dirs[c.tenant]; ok {
				if n := len(calls(t, d)); n != c.wantCalls && !(c.atLeast && n > c.wantCalls) {
					t.Errorf("function called %d times, want %d", n, c.wantCalls)
				}
			}
			m := e.deadLetter(c.tenant)
			switch {
			case c.wantDL == "" && m != nil:
				t.Errorf("unexpected dead letter: %v", m.Header)
			case c.wantDL != "" && m == nil:
				t.Errorf("no dead letter, want one with %q", c.wantDL)
			case m != nil:
				if r := m.Header.Get(contract.DeadLetterHeaderReason); !strings.Contains(r, c.wantDL) {
					t.Errorf("dead-letter reason %q, want it to contain %q", r, c.wantDL)
				}
				if m.Header.Get(contract.DeadLetterHeaderSubject) != contract.S3EventsSubject || m.Header.Get(contract.DeadLetterHeaderSeq) == "" || m.Header.Get(contract.DeadLetterHeaderStream) != contract.S3EventsStream {
					t.Errorf("dead letter lacks its origin: %v", m.Header)
				}
				if len(m.Data) == 0 {
					t.Error("dead letter has no body")
				}
			}
		})
	}
	b := e.deadLetter("broken")
	if b != nil {
		for k, v := range map[string]string{contract.DeadLetterHeaderFunction: "broken-ingest.openfaas-fn", contract.DeadLetterHeaderAttempts: "3", contract.DeadLetterHeaderLastStatus: "500", contract.DeadLetterHeaderTenant: "broken"} {
			if got := b.Header.Get(k); got != v {
				t.Errorf("broken's dead letter: %s = %q, want %q", k, got, v)
			}
		}
		if string(b.Data) != string(created("broken")[0]) {
			t.Errorf("dead letter body %s is not the original event", b.Data)
		}
	}
	// The slow function ran past AckWait: JetStream must not have handed
	// the event out again while it ran.
	for _, c := range calls(t, dirs["slow"]) {
		if c.Headers["X-Mysimbdp-Delivery"] != "1" {
			t.Errorf("slow event delivered again: %+v", c)
		}
	}

	metrics := e.metricsText()
	for _, want := range []string{
		`mysimbdp_connector_deferrals_total{function_name="quota-ingest.openfaas-fn"} 4`,
		`mysimbdp_connector_dead_letters_total{function_name="broken-ingest.openfaas-fn",tenant="broken"} 1`,
		`mysimbdp_connector_retries_total{function_name="flaky-ingest.openfaas-fn"} 2`,
		`mysimbdp_connector_invocations_total{code="500",function_name="broken-ingest.openfaas-fn"} 3`,
		`mysimbdp_connector_invocations_total{code="200",function_name="ok-ingest.openfaas-fn"} 1`,
		`mysimbdp_connector_events_total{outcome="ignored"} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(metrics)
	}
}

// TestDiscovery: an event waits for its function, which is deployed after
// the connector started, in a namespace other than the default one.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(func(c *Config) { c.MaxAttempts = 1000 })
	seq := e.publish(s3Event("s3:ObjectCreated:Put", "late", "incoming/x.json"))
	// The event has been tried (and postponed) before the function exists.
	harness.Until(t, 10*time.Second, "the event to be postponed", func() (bool, string) {
		s := e.metricsText()
		return strings.Contains(s, `mysimbdp_connector_retries_total{function_name=""}`), "no retry yet"
	})
	e.createNamespace("team-a")
	dir := e.deploy(fnSpec{name: "late-ingest", namespace: "team-a", tenant: "late", topic: "s3:late"})
	harness.Until(t, 20*time.Second, "the late function to get the event", func() (bool, string) {
		n := len(calls(t, dir))
		return n == 1, fmt.Sprintf("%d calls", n)
	})
	e.waitIdle(seq, 10*time.Second)
	if n := len(calls(t, dir)); n != 1 {
		t.Errorf("late function called %d times, want 1", n)
	}
	if c := calls(t, dir); len(c) == 1 && c[0].Headers["X-Mysimbdp-Delivery"] == "1" {
		t.Errorf("event delivered on its first delivery, want it postponed first: %+v", c[0])
	}
	if m := e.deadLetter("late"); m != nil {
		t.Errorf("unexpected dead letter: %v", m.Header)
	}
}

// TestDeferredEventsWaitApart: events a function keeps deferring leave the
// S3 consumer all tenants share until their time comes (a JetStream
// message schedule), so they cannot fill its MaxAckPending and hold back
// another tenant's files; each comes back as the same event, with its
// event id, and its delivery count going on.
func TestDeferredEventsWaitApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// tenant1's function defers everything (429, Retry-After: 1).
	dir1 := e.deploy(fnSpec{name: "busy", tenant: "tenant1", topic: "s3:tenant1", env: map[string]string{"S3FN_MODE": "defer", "S3FN_N": "1000000"}})
	dir2 := e.deploy(fnSpec{name: "idle", tenant: "tenant2", topic: "s3:tenant2"})
	e.start(func(c *Config) { c.MaxAckPending, c.MaxConcurrent = 4, 4 })

	held := map[string]bool{}
	for i := range 8 {
		held[fmt.Sprint(e.publish(s3Event("s3:ObjectCreated:Put", "tenant1", fmt.Sprintf("incoming/%d.csv", i))))] = true
	}
	harness.Until(t, 20*time.Second, "every tenant1 event to be deferred once", func() (bool, string) {
		seen := map[string]bool{}
		for _, c := range calls(t, dir1) {
			seen[c.Headers["X-Mysimbdp-Event-Id"]] = true
		}
		return len(seen) == len(held), fmt.Sprintf("%d of %d", len(seen), len(held))
	})
	e.publish(s3Event("s3:ObjectCreated:Put", "tenant2", "incoming/b.csv"))
	harness.Until(t, 20*time.Second, "tenant2's event, behind tenant1's eight deferred ones", func() (bool, string) {
		n := len(calls(t, dir2))
		return n == 1, fmt.Sprintf("%d calls", n)
	})
	// Every tenant1 event comes back as itself, its delivery count going
	// on rather than starting again. The condition is on what the test's
	// function saw (three calls per event), not on delivery numbers: the
	// connector may spend a delivery before the function sees it (e.g.
	// postponed while the function list is not read yet).
	harness.Until(t, 30*time.Second, "every tenant1 event to come back twice", func() (bool, string) {
		deliveries := map[string][]int{}
		for _, c := range calls(t, dir1) {
			id := c.Headers["X-Mysimbdp-Event-Id"]
			if !held[id] {
				t.Fatalf("tenant1's function got event id %q, not one of the events published", id)
			}
			n, err := strconv.Atoi(c.Headers["X-Mysimbdp-Delivery"])
			if err != nil || n < 1 {
				t.Fatalf("event %s came with delivery %q", id, c.Headers["X-Mysimbdp-Delivery"])
			}
			if d := deliveries[id]; len(d) > 0 && n < d[len(d)-1] {
				t.Fatalf("event %s: delivery %d after %v; the count started again", id, n, d)
			}
			deliveries[id] = append(deliveries[id], n)
		}
		for id := range held {
			if d := deliveries[id]; len(d) < 3 {
				return false, fmt.Sprintf("event %s: deliveries %v", id, d)
			}
		}
		return true, ""
	})
}
