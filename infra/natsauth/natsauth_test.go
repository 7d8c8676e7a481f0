package natsauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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

// stack is a real embedded NATS with the accounts on, as the local stack
// runs it, with the user service answering on the platform's connection,
// and the platform's streams a tenant might aim at: both tenants' record
// streams, the reports and the control KV bucket.
type stack struct {
	url      string // without credentials
	platform *nats.Conn
	js       jetstream.JetStream
	control  jetstream.KeyValue
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
	accounts, users, err := svc.Auth()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: filepath.Join(dir, "js"), Users: users, Accounts: accounts}, log)
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	svc.SetApply(ns.SetAuth)
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
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: contract.TenantStream(tenant), Subjects: []string{contract.TenantSubjects(tenant)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: contract.ReportsStream, Subjects: []string{contract.ReportSubjectPrefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	control, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contract.ControlBucket})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{url: ns.ClientURL(), platform: nc, js: js, control: control, svc: svc, usersLog: filepath.Join(dir, "users.json")}
}

// passwords are a tenant's clients' and functions' passwords.
type passwords struct{ client, functions string }

func pw(tenant string) passwords { return passwords{tenant + "-pw", tenant + "-fn-pw"} }

// addTenant gives tenant its account through the service, as `tenant
// apply` does.
func (s *stack) addTenant(t *testing.T, tenant string) {
	t.Helper()
	var h Tenant
	var err error
	if h.Client, err = Hash(pw(tenant).client); err != nil {
		t.Fatal(err)
	}
	if h.Functions, err = Hash(pw(tenant).functions); err != nil {
		t.Fatal(err)
	}
	changed, err := Put(t.Context(), s.platform, tenant, h)
	if err != nil || !changed {
		t.Fatalf("put %s: changed=%v err=%v", tenant, changed, err)
	}
	// The same hashes again are no change.
	if changed, err := Put(t.Context(), s.platform, tenant, h); err != nil || changed {
		t.Fatalf("put %s again: changed=%v err=%v, want no change", tenant, changed, err)
	}
}

// conn connects as user and collects the server's asynchronous errors
// (permission violations arrive that way).
func (s *stack) conn(t *testing.T, user, password string) (*nats.Conn, chan error, chan struct{}) {
	t.Helper()
	return harness.NATSAs(t, s.url, nats.UserInfo(user, password))
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

// msgs is the number of messages in stream.
func (s *stack) msgs(t *testing.T, stream string) uint64 {
	t.Helper()
	st, err := s.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return info.State.Msgs
}

// settle makes sure everything conn sent before has been processed by the
// server (a round trip), so a count read afterwards is final.
func settle(t *testing.T, nc *nats.Conn) {
	t.Helper()
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestTenantReachesOnlyItsOwnSubjects(t *testing.T) {
	s := start(t)
	ctx := t.Context()
	s.addTenant(t, "alpha")
	s.addTenant(t, "bravo")

	// A wrong password is refused.
	if nc, err := nats.Connect(s.url, nats.UserInfo(TenantUser("alpha"), pw("bravo").client)); err == nil {
		nc.Close()
		t.Fatal("alpha connected with bravo's password")
	}

	alpha, errs, _ := s.conn(t, TenantUser("alpha"), pw("alpha").client)
	ajs, err := jetstream.New(alpha)
	if err != nil {
		t.Fatal(err)
	}
	// Its own records: stored in the platform's stream, and the JetStream
	// ack comes back to its default inbox.
	ack, err := ajs.Publish(ctx, "ingest.alpha.covid", []byte(`{"a":1}`))
	if err != nil || ack.Stream != contract.TenantStream("alpha") {
		t.Fatalf("alpha publishes its own record: ack %+v, err %v", ack, err)
	}
	// A client still using the old per-tenant inbox prefix works too.
	old, _, _ := harness.NATSAs(t, s.url, nats.UserInfo(TenantUser("alpha"), pw("alpha").client), nats.CustomInboxPrefix(InboxPrefix("alpha")))
	ojs, err := jetstream.New(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ojs.Publish(ctx, "ingest.alpha.covid", []byte(`{"a":2}`)); err != nil {
		t.Fatalf("alpha publishes with its old inbox prefix: %v", err)
	}

	// Refused outright by alpha's permissions.
	for _, tc := range []struct {
		name, what string
		do         func() error
	}{
		{"publish to another tenant", "ingest.bravo.covid", func() error { return alpha.Publish("ingest.bravo.covid", []byte(`{"a":1}`)) }},
		{"publish to the platform's events", "mysimbdp.events", func() error { return alpha.Publish("mysimbdp.events.x", []byte(`{}`)) }},
		{"publish its own reports", contract.ReportSubjectPrefix + ".alpha", func() error {
			return alpha.Publish(contract.ReportSubjectPrefix+".alpha", []byte(`{"rows_ok":-1000000}`))
		}},
		{"publish to a KV bucket", "$KV." + contract.ControlBucket, func() error {
			return alpha.Publish("$KV."+contract.ControlBucket+".paused.bravo", []byte(`x`))
		}},
		{"subscribe to another tenant's records", "ingest.bravo.>", func() error { _, err := alpha.SubscribeSync("ingest.bravo.>"); return err }},
		{"subscribe to another tenant's reports", contract.ReportSubjectPrefix + ".bravo", func() error {
			_, err := alpha.SubscribeSync(contract.ReportSubjectPrefix + ".bravo")
			return err
		}},
		{"subscribe to everything", ">", func() error { _, err := alpha.SubscribeSync(">"); return err }},
		{"use the JetStream API", "$JS.API.STREAM.INFO", func() error {
			return alpha.PublishRequest("$JS.API.STREAM.INFO."+contract.TenantStream("bravo"), "_INBOX.x", nil)
		}},
		{"reply onto the JetStream API", "Publish with Reply", func() error {
			return alpha.PublishRequest("ingest.alpha.covid", "$JS.API.STREAM.DELETE."+contract.TenantStream("bravo"), []byte(`{}`))
		}},
		{"ask the user service", contract.NATSUsersControlSubject, func() error {
			return alpha.PublishRequest(contract.NATSUsersControlSubject, "_INBOX.y", []byte(`{"op":"list"}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, errs, tc.what)
		})
	}

	// Allowed publishes whose reply subject aims at another tenant's
	// stream or the platform's control bucket: the ack stays in alpha's
	// account, where no stream or bucket listens.
	for _, reply := range []string{"ingest.bravo.injected", "$KV." + contract.ControlBucket + ".paused.bravo"} {
		if err := alpha.PublishRequest("ingest.alpha.covid", reply, []byte(`{"a":3}`)); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, alpha)
	harness.Until(t, 10*time.Second, "alpha's 4 records stored", func() (bool, string) { n := s.msgs(t, contract.TenantStream("alpha")); return n == 4, fmt.Sprint(n) })
	if n := s.msgs(t, contract.TenantStream("bravo")); n != 0 {
		t.Errorf("bravo's stream holds %d messages, want 0", n)
	}
	if keys, err := s.control.ListKeys(ctx); err != nil {
		t.Fatal(err)
	} else {
		for k := range keys.Keys() {
			t.Errorf("control bucket holds key %q, want none", k)
		}
	}
	if _, err := ajs.Publish(ctx, "ingest.bravo.covid", []byte(`{}`)); err == nil {
		t.Error("alpha's JetStream publish to bravo's subject was acked")
	}

	// Every inbox alpha can see is its own: a platform request's reply
	// does not reach it.
	spy, err := alpha.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, alpha)
	if _, err := s.js.Stream(ctx, contract.TenantStream("bravo")); err != nil { // a request with a reply inbox
		t.Fatal(err)
	}
	bravo, _, _ := s.conn(t, TenantUser("bravo"), pw("bravo").client)
	bjs, err := jetstream.New(bravo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bjs.Publish(ctx, "ingest.bravo.covid", []byte(`{"b":1}`)); err != nil {
		t.Fatalf("bravo publishes its own record: %v", err)
	}
	if m, err := spy.NextMsg(500 * time.Millisecond); err == nil {
		t.Errorf("alpha's _INBOX.> received %s (%q), another account's reply", m.Subject, m.Data)
	}
}

func TestFunctionsPublishOnlyTheirTenantsReports(t *testing.T) {
	s := start(t)
	ctx := t.Context()
	s.addTenant(t, "alpha")
	s.addTenant(t, "bravo")

	// alpha's clients watch their reports.
	watcher, _, _ := s.conn(t, TenantUser("alpha"), pw("alpha").client)
	reports, err := watcher.SubscribeSync(contract.ReportSubjectPrefix + ".alpha")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, watcher)

	fn, errs, _ := s.conn(t, FunctionUser("alpha"), pw("alpha").functions)
	fjs, err := jetstream.New(fn)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := fjs.Publish(ctx, contract.ReportSubjectPrefix+".alpha", []byte(`{"rows_ok":1}`))
	if err != nil || ack.Stream != contract.ReportsStream {
		t.Fatalf("alpha's function publishes its report: ack %+v, err %v", ack, err)
	}
	if m, err := reports.NextMsg(10 * time.Second); err != nil || string(m.Data) != `{"rows_ok":1}` {
		t.Fatalf("alpha's client watching its reports: %v %v", m, err)
	}
	// Once: the report imported back into alpha's account does not go
	// round again through the service import.
	if m, err := reports.NextMsg(500 * time.Millisecond); err == nil {
		t.Errorf("alpha's report delivered twice: %q", m.Data)
	}
	harness.Until(t, 10*time.Second, "the report stored once", func() (bool, string) { n := s.msgs(t, contract.ReportsStream); return n == 1, fmt.Sprint(n) })

	for _, tc := range []struct{ name, subject string }{
		{"another tenant's reports", contract.ReportSubjectPrefix + ".bravo"},
		{"its tenant's records", "ingest.alpha.covid"},
		{"the JetStream API", "$JS.API.STREAM.NAMES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := fn.Publish(tc.subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, errs, tc.subject)
		})
	}
	// A report whose reply aims at the control bucket: stored, and the
	// ack stays in alpha's account.
	if err := fn.PublishRequest(contract.ReportSubjectPrefix+".alpha", "$KV."+contract.ControlBucket+".paused.bravo", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	settle(t, fn)
	harness.Until(t, 10*time.Second, "the second report stored", func() (bool, string) { n := s.msgs(t, contract.ReportsStream); return n == 2, fmt.Sprint(n) })
	if _, err := s.control.Get(ctx, "paused.bravo"); err == nil {
		t.Error("a report's reply wrote into the control bucket")
	}
}

func TestAccountsChangeUnderRunningClients(t *testing.T) {
	s := start(t)
	ctx := t.Context()
	s.addTenant(t, "alpha")
	alpha, _, closed := s.conn(t, TenantUser("alpha"), pw("alpha").client)
	ajs, err := jetstream.New(alpha)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ajs.Publish(ctx, "ingest.alpha.covid", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// Another tenant joins: the server reloads its accounts; alpha's
	// connection and the platform's streams carry on.
	s.addTenant(t, "bravo")
	if _, err := ajs.Publish(ctx, "ingest.alpha.covid", []byte(`{}`)); err != nil {
		t.Fatalf("alpha publishes after bravo joined: %v", err)
	}
	select {
	case <-closed:
		t.Fatal("alpha's connection closed by another tenant's arrival")
	default:
	}
	if n := s.msgs(t, contract.TenantStream("alpha")); n != 2 {
		t.Errorf("alpha's stream holds %d, want 2", n)
	}
	if _, err := s.control.Put(ctx, "k", []byte("v")); err != nil {
		t.Errorf("the platform's KV after the reload: %v", err)
	}
}

func TestDeleteDisconnectsAndSurvivesRestart(t *testing.T) {
	s := start(t)
	ctx := t.Context()
	s.addTenant(t, "alpha")
	_, _, closed := s.conn(t, TenantUser("alpha"), pw("alpha").client)
	_, _, fnClosed := s.conn(t, FunctionUser("alpha"), pw("alpha").functions)

	users, err := List(ctx, s.platform)
	if err != nil || len(users) != 1 || users[0] != "alpha" {
		t.Fatalf("list: %v %v, want [alpha]", users, err)
	}
	// The file holds the hash, never the password.
	raw, err := os.ReadFile(s.usersLog)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "alpha-pw") || strings.Contains(string(raw), "alpha-fn-pw") || !strings.Contains(string(raw), "$2a$") {
		t.Errorf("users file %s: want bcrypt hashes only", raw)
	}
	// A restarted stack reads the same users.
	again, err := NewService(s.usersLog, "x", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := again.Auth()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, u := range got {
		names[u.Username] = u.Account.Name
	}
	if want := map[string]string{PlatformUser: PlatformAccount, TenantUser("alpha"): TenantAccount("alpha"), FunctionUser("alpha"): TenantAccount("alpha")}; !maps.Equal(names, want) {
		t.Errorf("reloaded users and their accounts %v, want %v", names, want)
	}

	changed, err := Delete(ctx, s.platform, "alpha")
	if err != nil || !changed {
		t.Fatalf("delete: changed=%v err=%v", changed, err)
	}
	for _, c := range []chan struct{}{closed, fnClosed} {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatal("alpha's connections still open 10s after its account was deleted")
		}
	}
	if nc, err := nats.Connect(s.url, nats.UserInfo(TenantUser("alpha"), pw("alpha").client)); err == nil {
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
	if _, err := Put(ctx, nc, "alpha", Tenant{Client: "$2a$10$x"}); !errors.Is(err, ErrNoService) {
		t.Errorf("put on a NATS without the service: %v, want ErrNoService", err)
	}
	snippet := ConfigSnippet("alpha", Tenant{Client: "$2a$10$x", Functions: "$2a$10$y"})
	for _, want := range []string{`user: "tenant-alpha"`, `user: "fn-alpha"`, `"TENANT_alpha"`, `{service: "ingest.alpha.>", accounts: ["TENANT_alpha"]}`, `nats.tenants.alpha.functions: "$2a$10$y"`} {
		if !strings.Contains(snippet, want) {
			t.Errorf("config snippet lacks %s:\n%s", want, snippet)
		}
	}
}
