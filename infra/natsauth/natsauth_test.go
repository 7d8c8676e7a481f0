package natsauth

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// stack is a real embedded NATS with authentication on, as the local
// stack runs it, with the user service answering on the platform's
// connection.
type stack struct {
	url      string // without credentials
	platform *nats.Conn
	js       jetstream.JetStream
	svc      *Service
	usersLog string
}

func start(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	svc, err := NewService(filepath.Join(dir, "users.json"), "platform-secret", log)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: filepath.Join(dir, "js"), Users: svc.Users()}, log)
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	svc.SetApply(ns.SetUsers)
	purl, err := WithUser(ns.ClientURL(), PlatformUser, "platform-secret")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(purl)
	if err != nil {
		t.Fatalf("platform connect: %v", err)
	}
	t.Cleanup(nc.Close)
	if err := svc.Serve(nc); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"alpha", "bravo"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ingest-" + tenant, Subjects: []string{"ingest." + tenant + ".>"}}); err != nil {
			t.Fatal(err)
		}
	}
	return &stack{url: ns.ClientURL(), platform: nc, js: js, svc: svc, usersLog: filepath.Join(dir, "users.json")}
}

// addTenant gives tenant a user through the service, as `tenant apply` does.
func (s *stack) addTenant(t *testing.T, tenant, password string) {
	t.Helper()
	h, err := Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := Put(t.Context(), s.platform, tenant, h)
	if err != nil || !changed {
		t.Fatalf("put %s: changed=%v err=%v", tenant, changed, err)
	}
	// The same hash again is no change.
	if changed, err := Put(t.Context(), s.platform, tenant, h); err != nil || changed {
		t.Fatalf("put %s again: changed=%v err=%v, want no change", tenant, changed, err)
	}
}

// tenantConn connects as tenant and collects the server's asynchronous
// errors (permission violations arrive that way).
func (s *stack) tenantConn(t *testing.T, tenant, password string) (*nats.Conn, chan error, chan struct{}) {
	t.Helper()
	return harness.NATSAs(t, s.url, nats.UserInfo(TenantUser(tenant), password), nats.CustomInboxPrefix(InboxPrefix(tenant)))
}

func wantViolation(t *testing.T, errs chan error, what string) {
	t.Helper()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") || !strings.Contains(err.Error(), what) {
			t.Errorf("got %v, want a permissions violation for %s", err, what)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no permissions violation for %s within 10s", what)
	}
}

func TestTenantReachesOnlyItsOwnSubjects(t *testing.T) {
	s := start(t)
	ctx := t.Context()
	s.addTenant(t, "alpha", "alpha-pw")
	s.addTenant(t, "bravo", "bravo-pw")

	// A wrong password is refused.
	if nc, err := nats.Connect(s.url, nats.UserInfo(TenantUser("alpha"), "bravo-pw")); err == nil {
		nc.Close()
		t.Fatal("alpha connected with bravo's password")
	}

	alpha, errs, _ := s.tenantConn(t, "alpha", "alpha-pw")
	ajs, err := jetstream.New(alpha)
	if err != nil {
		t.Fatal(err)
	}
	// Its own records: stored, and the JetStream ack reaches its inbox.
	ack, err := ajs.Publish(ctx, "ingest.alpha.covid", []byte(`{"a":1}`))
	if err != nil || ack.Stream != "ingest-alpha" {
		t.Fatalf("alpha publishes its own record: ack %+v, err %v", ack, err)
	}

	for _, tc := range []struct {
		name, what string
		do         func() error
	}{
		{"publish to another tenant", "ingest.bravo.covid", func() error { return alpha.Publish("ingest.bravo.covid", []byte(`{"a":1}`)) }},
		{"publish to the platform's events", "mysimbdp.events", func() error { return alpha.Publish("mysimbdp.events.x", []byte(`{}`)) }},
		{"subscribe to another tenant's records", "ingest.bravo.>", func() error { _, err := alpha.SubscribeSync("ingest.bravo.>"); return err }},
		{"subscribe to every inbox", "_INBOX.>", func() error { _, err := alpha.SubscribeSync("_INBOX.>"); return err }},
		{"subscribe to another tenant's inbox", "_INBOX_bravo.>", func() error { _, err := alpha.SubscribeSync("_INBOX_bravo.>"); return err }},
		{"subscribe to everything", ">", func() error { _, err := alpha.SubscribeSync(">"); return err }},
		{"use the JetStream API", "$JS.API.STREAM.INFO.ingest-bravo", func() error {
			return alpha.PublishRequest("$JS.API.STREAM.INFO.ingest-bravo", InboxPrefix("alpha")+".x", nil)
		}},
		{"ask the user service", contract.NATSUsersControlSubject, func() error {
			return alpha.PublishRequest(contract.NATSUsersControlSubject, InboxPrefix("alpha")+".y", []byte(`{"op":"list"}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, errs, tc.what)
		})
	}
	// Nothing of alpha's reached bravo's stream.
	st, err := s.js.Stream(ctx, "ingest-bravo")
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("bravo's stream holds %d messages, want 0", n)
	}
	if _, err := ajs.Publish(ctx, "ingest.bravo.covid", []byte(`{}`)); err == nil {
		t.Error("alpha's JetStream publish to bravo's subject was acked")
	}
}

func TestDeleteDisconnectsAndSurvivesRestart(t *testing.T) {
	s := start(t)
	ctx := t.Context()
	s.addTenant(t, "alpha", "alpha-pw")
	_, _, closed := s.tenantConn(t, "alpha", "alpha-pw")

	users, err := List(ctx, s.platform)
	if err != nil || len(users) != 1 || users[0] != "alpha" {
		t.Fatalf("list: %v %v, want [alpha]", users, err)
	}
	// The file holds the hash, never the password.
	raw, err := os.ReadFile(s.usersLog)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "alpha-pw") || !strings.Contains(string(raw), "$2a$") {
		t.Errorf("users file %s: want bcrypt hashes only", raw)
	}
	// A restarted stack reads the same users.
	again, err := NewService(s.usersLog, "x", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Users(); len(got) != 2 || got[1].Username != TenantUser("alpha") || got[1].Permissions == nil {
		t.Errorf("reloaded users %+v, want platform and tenant-alpha with permissions", got)
	}

	changed, err := Delete(ctx, s.platform, "alpha")
	if err != nil || !changed {
		t.Fatalf("delete: changed=%v err=%v", changed, err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("alpha's connection still open 10s after its user was deleted")
	}
	if nc, err := nats.Connect(s.url, nats.UserInfo(TenantUser("alpha"), "alpha-pw")); err == nil {
		nc.Close()
		t.Fatal("a deleted tenant user could connect")
	}
	if changed, err := Delete(ctx, s.platform, "alpha"); err != nil || changed {
		t.Errorf("second delete: changed=%v err=%v, want no change", changed, err)
	}
	// The platform user kept its rights throughout.
	if _, err := s.js.Publish(ctx, "ingest.bravo.covid", []byte(`{}`)); err != nil {
		t.Errorf("platform publish: %v", err)
	}
}

func TestNoServiceOnAForeignNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := Put(ctx, nc, "alpha", "$2a$10$x"); !errors.Is(err, ErrNoService) {
		t.Errorf("put on a NATS without the service: %v, want ErrNoService", err)
	}
	snippet := ConfigSnippet("alpha", "$2a$10$x")
	for _, want := range []string{`user: "tenant-alpha"`, `"ingest.alpha.>"`, `"_INBOX_alpha.>"`} {
		if !strings.Contains(snippet, want) {
			t.Errorf("config snippet lacks %s:\n%s", want, snippet)
		}
	}
}
