package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// startJetStream runs a real embedded NATS with JetStream in the test's
// own folder, stopped when the test ends.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: t.TempDir()}, log)
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func streamProfile(t *testing.T, tenant, jetstreamYAML string) *profile.Profile {
	t.Helper()
	p, err := profile.Parse([]byte(`tenant: `+tenant+`
stream:
  max_messages_per_window: 3
  max_bytes_per_window: 1KiB
  window: 5s
  jetstream:
`+jetstreamYAML+`
sink:
  collection: c
  schema:
    - {name: a, type: string}
`), tenant+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyStreamLimits(t *testing.T) {
	js := startJetStream(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name, yaml        string
		maxBytes, maxMsgs int64
		maxAge            time.Duration
	}{
		{"limited", "    max_bytes: 1MiB\n    max_messages: 1000\n    max_age: 1h", 1 << 20, 1000, time.Hour},
		{"unlimited", "    max_bytes: 0\n    max_messages: 0\n    max_age: 0s", -1, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := streamProfile(t, "lim-"+tc.name, tc.yaml)
			if err := ApplyStream(ctx, js, p, 1); err != nil {
				t.Fatal(err)
			}
			s, err := js.Stream(ctx, p.StreamName())
			if err != nil {
				t.Fatal(err)
			}
			c := s.CachedInfo().Config
			if c.MaxBytes != tc.maxBytes || c.MaxMsgs != tc.maxMsgs || c.MaxAge != tc.maxAge {
				t.Errorf("limits bytes=%d msgs=%d age=%s, want %d %d %s", c.MaxBytes, c.MaxMsgs, c.MaxAge, tc.maxBytes, tc.maxMsgs, tc.maxAge)
			}
			if c.Discard != jetstream.DiscardNew || c.Storage != jetstream.FileStorage || c.DenyDelete || c.DenyPurge {
				t.Errorf("policy discard=%v storage=%v deny_delete=%v deny_purge=%v", c.Discard, c.Storage, c.DenyDelete, c.DenyPurge)
			}
			if !reflect.DeepEqual(c.Subjects, []string{"ingest." + p.Tenant + ".>"}) {
				t.Errorf("subjects %v", c.Subjects)
			}
		})
	}
}

func TestApplyStreamTwiceChangesNothing(t *testing.T) {
	js := startJetStream(t)
	ctx := t.Context()
	p := streamProfile(t, "twice", "    max_bytes: 1MiB\n    max_messages: 100\n    max_age: 1h")
	if err := ApplyStream(ctx, js, p, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "ingest.twice.x", []byte(`{"a":"1"}`)); err != nil {
		t.Fatal(err)
	}
	before := info(t, js, p.StreamName())
	if err := ApplyStream(ctx, js, p, 1); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	after := info(t, js, p.StreamName())
	if !reflect.DeepEqual(before.Config, after.Config) || !before.Created.Equal(after.Created) || after.State.Msgs != 1 {
		t.Errorf("second apply changed the stream:\nbefore %+v created %s msgs %d\nafter  %+v created %s msgs %d",
			before.Config, before.Created, before.State.Msgs, after.Config, after.Created, after.State.Msgs)
	}

	// An edited profile updates in place and keeps the messages.
	p.Stream.JetStream.MaxMessages = 50
	if err := ApplyStream(ctx, js, p, 1); err != nil {
		t.Fatalf("apply edited profile: %v", err)
	}
	if got := info(t, js, p.StreamName()); got.Config.MaxMsgs != 50 || got.State.Msgs != 1 {
		t.Errorf("after edit: max_msgs %d, msgs %d; want 50, 1", got.Config.MaxMsgs, got.State.Msgs)
	}

	if err := RemoveStream(ctx, js, p); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, p.StreamName()); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("after remove: %v, want stream not found", err)
	}
	if err := RemoveStream(ctx, js, p); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

func TestFullStreamRefusesOnlyItsTenant(t *testing.T) {
	js := startJetStream(t)
	ctx := t.Context()
	full := streamProfile(t, "full", "    max_messages: 3")
	other := streamProfile(t, "other", "    max_messages: 3")
	for _, p := range []*profile.Profile{full, other} {
		if err := ApplyStream(ctx, js, p, 1); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, "ingest.full.covid", fmt.Appendf(nil, `{"a":"%d"}`, i)); err != nil {
			t.Fatalf("publish %d into a stream with room: %v", i, err)
		}
	}
	_, err := js.Publish(ctx, "ingest.full.covid", []byte(`{"a":"4"}`))
	if err == nil || !strings.Contains(err.Error(), "maximum messages exceeded") {
		t.Fatalf("publish into a full stream: %v, want a \"maximum messages exceeded\" error", err)
	}
	if got := info(t, js, full.StreamName()); got.State.Msgs != 3 || got.State.FirstSeq != 1 {
		t.Errorf("full stream holds msgs %d from seq %d; want the 3 accepted, none dropped", got.State.Msgs, got.State.FirstSeq)
	}
	if _, err := js.Publish(ctx, "ingest.other.covid", []byte(`{"a":"1"}`)); err != nil {
		t.Errorf("another tenant's publish failed while tenant full's stream is full: %v", err)
	}
}

func info(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	i, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return i
}
