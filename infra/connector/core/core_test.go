package core

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"99999999999", 24 * time.Hour, true},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		failures int
		base     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {10, time.Minute}, {1000, time.Minute}} {
		for range 50 {
			d := Backoff(tc.failures, time.Second, time.Minute)
			if lo, hi := tc.base-tc.base/10, tc.base+tc.base/10; d < lo || d > hi {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.failures, d, lo, hi)
			}
		}
	}
}

func TestTrackerBounded(t *testing.T) {
	tr := NewTracker(3)
	for i := range uint64(10) {
		tr.Store(MsgKey{"S", i}, DeliveryState{Failures: int(i)})
	}
	if n := tr.Len(); n != 3 {
		t.Fatalf("tracker holds %d states, want 3", n)
	}
	if _, ok := tr.Load(MsgKey{"S", 0}); ok {
		t.Error("oldest state not evicted")
	}
	s, ok := tr.Load(MsgKey{"S", 9})
	if !ok || s.Failures != 9 {
		t.Errorf("newest state = %+v, %v", s, ok)
	}
	// A loaded state is a copy: changing it does not change the tracker.
	s.Done = map[string]bool{"f": true}
	s2, _ := tr.Load(MsgKey{"S", 9})
	if s2.Done["f"] {
		t.Error("load returned shared state")
	}
	tr.Forget(MsgKey{"S", 9})
	if _, ok := tr.Load(MsgKey{"S", 9}); ok {
		t.Error("forget kept the state")
	}
}

func TestDeadLetterText(t *testing.T) {
	if got := subjectToken("my.bucket"); got != "my_bucket" {
		t.Errorf("subjectToken = %q", got)
	}
	if got := subjectToken(""); got != UnknownTenant {
		t.Errorf("subjectToken(\"\") = %q", got)
	}
	long := strings.Repeat("é", 1000) // 2000 bytes
	r := FailureReason("f", Result{Status: 500, Answer: []byte(long + "\nline2")})
	if !strings.HasSuffix(r, "…(truncated)") || len(r) > ReasonLimit+100 {
		t.Errorf("reason not truncated: %d bytes", len(r))
	}
	if v := headerValue("a\r\nb\x00c"); strings.ContainsAny(v, "\r\n\x00") {
		t.Errorf("headerValue kept control characters: %q", v)
	}
}
