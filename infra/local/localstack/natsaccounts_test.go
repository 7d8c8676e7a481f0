package localstack

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
)

// A data folder from before the accounts, its streams in the global
// account, keeps them under the platform account.
func TestStreamsMoveToPlatformAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	store := t.TempDir()

	// Before: no accounts, one stream with two messages and a KV key.
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: store}, log)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ingest-alpha", Subjects: []string{"ingest.alpha.>"}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := js.Publish(ctx, "ingest.alpha.x", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "control"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "paused.alpha", []byte("x")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ns.Shutdown()

	// After: accounts on, the files moved first.
	if err := moveStreamsToPlatformAccount(store, log); err != nil {
		t.Fatal(err)
	}
	if err := moveStreamsToPlatformAccount(store, log); err != nil {
		t.Fatalf("a second start: %v", err)
	}
	svc, err := natsauth.NewService(filepath.Join(t.TempDir(), "users.json"), "pw", log)
	if err != nil {
		t.Fatal(err)
	}
	accounts, users, err := svc.Auth()
	if err != nil {
		t.Fatal(err)
	}
	ns, err = natsd.Start(ctx, natsd.Config{StoreDir: store, Users: users, Accounts: accounts}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err = nats.Connect(ns.ClientURL(), nats.UserInfo(natsauth.PlatformUser, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ = jetstream.New(nc)
	st, err := js.Stream(ctx, "ingest-alpha")
	if err != nil {
		t.Fatalf("the stream after the move: %v", err)
	}
	if n := st.CachedInfo().State.Msgs; n != 2 {
		t.Errorf("the stream holds %d messages, want 2", n)
	}
	kv, err = js.KeyValue(ctx, "control")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "paused.alpha"); err != nil || string(e.Value()) != "x" {
		t.Errorf("KV key after the move: %v %v", e, err)
	}

	// Both folders present: refused, nothing moved.
	if err := os.MkdirAll(filepath.Join(store, "jetstream", "$G"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := moveStreamsToPlatformAccount(store, log); err == nil {
		t.Error("moved streams onto an existing platform account's")
	}
}
