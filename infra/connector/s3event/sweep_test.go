package s3event

import (
	"testing"
	"time"
)

// TestPendingHeld: an object is held while an event of it is handled,
// and after, until fresh has passed, unless its event is done; an event
// without an ETag holds every version of its key.
func TestPendingHeld(t *testing.T) {
	route := func(key, etag string) s3Route {
		return s3Route{bucket: "t1", keys: []string{key}, etags: []string{etag}}
	}
	v := objectVersion{"t1", "incoming/a.csv", "e1"}
	for _, tc := range []struct {
		name  string
		steps func(p *pending)
		fresh time.Duration
		want  bool
	}{
		{name: "never seen", steps: func(*pending) {}, fresh: time.Hour, want: false},
		{name: "being handled", steps: func(p *pending) { p.begin(route(v.key, v.etag)) }, fresh: 0, want: true},
		{name: "came back lately", steps: func(p *pending) {
			p.begin(route(v.key, v.etag))
			p.end(route(v.key, v.etag), false)
		}, fresh: time.Hour, want: true},
		{name: "not back within fresh", steps: func(p *pending) {
			p.begin(route(v.key, v.etag))
			p.end(route(v.key, v.etag), false)
		}, fresh: 0, want: false},
		{name: "done", steps: func(p *pending) {
			p.begin(route(v.key, v.etag))
			p.end(route(v.key, v.etag), true)
		}, fresh: time.Hour, want: false},
		{name: "done by one of two handlers", steps: func(p *pending) {
			p.begin(route(v.key, v.etag))
			p.begin(route(v.key, v.etag))
			p.end(route(v.key, v.etag), true)
		}, fresh: 0, want: true},
		{name: "another version", steps: func(p *pending) { p.begin(route(v.key, "e0")) }, fresh: time.Hour, want: false},
		{name: "event without ETag", steps: func(p *pending) { p.begin(route(v.key, "")) }, fresh: time.Hour, want: true},
		{name: "another bucket", steps: func(p *pending) {
			p.begin(s3Route{bucket: "t2", keys: []string{v.key}, etags: []string{v.etag}})
		}, fresh: time.Hour, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p pending
			tc.steps(&p)
			if got := p.held(v, tc.fresh); got != tc.want {
				t.Errorf("held = %v, want %v", got, tc.want)
			}
			p.prune(tc.fresh)
			if got := p.held(v, tc.fresh); got != tc.want {
				t.Errorf("after prune, held = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAnnouncedKey: one KV key per object version, valid whatever the
// object key holds.
func TestAnnouncedKey(t *testing.T) {
	a := announcedKey("t1", "incoming/a b+c/ü.csv", "e1")
	for _, other := range []string{announcedKey("t1", "incoming/a b+c/ü.csv", "e2"), announcedKey("t2", "incoming/a b+c/ü.csv", "e1"),
		announcedKey("t1", "incoming/a.csv", "e1")} {
		if other == a {
			t.Errorf("two object versions share the key %s", a)
		}
	}
	if announcedKey("t1", "incoming/a b+c/ü.csv", "e1") != a {
		t.Error("the key of one version changes")
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			t.Fatalf("key %q has %q, not valid in a KV key", a, r)
		}
	}
}
