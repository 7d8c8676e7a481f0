package adversary

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// natsURL is the platform's NATS address with no user in it, as a tenant
// is given it.
func natsURL(tb testing.TB) string {
	tb.Helper()
	u, err := url.Parse(rig.e.NATS)
	if err != nil {
		tb.Fatal(err)
	}
	u.User = nil
	return u.String()
}

// attackerFunctionsNATS is the NATS URL tenant1's functions hold in their
// credentials secret: what tenant1's own code can read.
func attackerFunctionsNATS(tb testing.TB) string {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(rig.data, "provider", "secrets", "openfaas-fn", contract.CredentialsSecret(attacker)))
	if err != nil {
		tb.Fatal(err)
	}
	creds, err := secret.ParseEnv(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return creds[contract.EnvNATSURL]
}

// violation waits for the server's permissions violation about what.
func violation(tb testing.TB, errs chan error, what string) {
	tb.Helper()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") || !strings.Contains(err.Error(), what) {
			tb.Errorf("got %v, want a permissions violation for %s", err, what)
		}
	case <-time.After(10 * time.Second):
		tb.Errorf("no permissions violation for %s within 10s", what)
	}
}

// TestNATSAttacks: tenant1, with its clients' user and with the user its
// functions hold, tries every way into tenant2's stream, its inbox and
// reports and the platform's control. Each is refused by a permission or
// lands in tenant1's own account where nothing listens; tenant2's rows,
// stream and the control bucket stay as they were.
func TestNATSAttacks(t *testing.T) {
	before := snapshot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	client, clientErrs, _ := harness.NATSAs(t, natsURL(t), nats.UserInfo(rig.t1.NATSUser, rig.t1.NATSPassword))
	fnURL := attackerFunctionsNATS(t)
	if u, err := url.Parse(fnURL); err != nil || u.User.Username() != natsauth.FunctionUser(attacker) {
		t.Fatalf("tenant1's functions hold NATS user %v (%v), want %s", u.User, err, natsauth.FunctionUser(attacker))
	}
	fn, fnErrs, _ := harness.NATSAs(t, fnURL)
	record := ecdc.JSON(1)
	controlKey := "$KV." + contract.ControlBucket + "." + contract.PausedKeyPrefix + victim

	// Refused outright.
	for _, tc := range []struct {
		name string
		nc   *nats.Conn
		errs chan error
		what string
		do   func(nc *nats.Conn) error
	}{
		{"client publishes into tenant2's stream", client, clientErrs, "ingest." + victim, func(nc *nats.Conn) error { return nc.Publish("ingest."+victim+".x", record) }},
		{"client publishes to the JetStream API", client, clientErrs, "$JS.API", func(nc *nats.Conn) error {
			return nc.PublishRequest("$JS.API.STREAM.PURGE."+victimStream, nc.NewRespInbox(), nil)
		}},
		{"client writes the control bucket", client, clientErrs, "$KV." + contract.ControlBucket, func(nc *nats.Conn) error { return nc.Publish(controlKey, []byte("paused")) }},
		{"client publishes tenant2's report", client, clientErrs, contract.ReportSubjectPrefix + "." + victim, func(nc *nats.Conn) error {
			return nc.Publish(contract.ReportSubject(contract.ReportSubjectPrefix, victim), []byte(`{"kind":"batch","tenant":"tenant2","status":"done","bytes":99999999999}`))
		}},
		{"client publishes its own report", client, clientErrs, contract.ReportSubjectPrefix + "." + attacker, func(nc *nats.Conn) error {
			return nc.Publish(contract.ReportSubject(contract.ReportSubjectPrefix, attacker), []byte(`{"kind":"batch","tenant":"tenant1","status":"done"}`))
		}},
		{"client subscribes to tenant2's inbox", client, clientErrs, "_INBOX_" + victim, func(nc *nats.Conn) error {
			_, err := nc.SubscribeSync(natsauth.InboxPrefix(victim) + ".>")
			return err
		}},
		{"client subscribes to tenant2's records", client, clientErrs, "ingest." + victim, func(nc *nats.Conn) error {
			_, err := nc.SubscribeSync("ingest." + victim + ".>")
			return err
		}},
		{"client subscribes to tenant2's reports", client, clientErrs, contract.ReportSubjectPrefix + "." + victim, func(nc *nats.Conn) error {
			_, err := nc.SubscribeSync(contract.ReportSubject(contract.ReportSubjectPrefix, victim))
			return err
		}},
		{"client replies onto the JetStream API", client, clientErrs, "Publish with Reply", func(nc *nats.Conn) error {
			return nc.PublishRequest("ingest."+attacker+".x", "$JS.API.STREAM.DELETE."+victimStream, record)
		}},
		{"functions publish tenant2's report", fn, fnErrs, contract.ReportSubjectPrefix + "." + victim, func(nc *nats.Conn) error {
			return nc.Publish(contract.ReportSubject(contract.ReportSubjectPrefix, victim), []byte(`{"kind":"batch","tenant":"tenant2"}`))
		}},
		{"functions publish into tenant2's stream", fn, fnErrs, "ingest." + victim, func(nc *nats.Conn) error { return nc.Publish("ingest."+victim+".x", record) }},
		{"functions write the control bucket", fn, fnErrs, "$KV." + contract.ControlBucket, func(nc *nats.Conn) error { return nc.Publish(controlKey, []byte("paused")) }},
		{"functions use the JetStream API", fn, fnErrs, "$JS.API", func(nc *nats.Conn) error {
			return nc.PublishRequest("$JS.API.STREAM.NAMES", nc.NewRespInbox(), nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(tc.nc); err != nil {
				t.Fatal(err)
			}
			violation(t, tc.errs, tc.what)
		})
	}

	// Allowed publishes whose reply names tenant2's stream or the control
	// bucket: the ack goes back into tenant1's own account, where neither
	// exists. tenant1's records are stored in its own stream all the same.
	attackerStream, err := rig.js.Stream(ctx, contract.TenantStream(attacker))
	if err != nil {
		t.Fatal(err)
	}
	info, err := attackerStream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	for _, reply := range []string{"ingest." + victim + ".injected", controlKey} {
		if err := client.PublishRequest("ingest."+attacker+".attack", reply, record); err != nil {
			t.Fatal(err)
		}
	}
	if err := fn.PublishRequest(contract.ReportSubject(contract.ReportSubjectPrefix, attacker), controlKey, []byte(`{"kind":"probe","tenant":"tenant1"}`)); err != nil {
		t.Fatal(err)
	}
	for _, nc := range []*nats.Conn{client, fn} {
		if err := nc.FlushTimeout(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	harness.Until(t, 30*time.Second, "tenant1's two records in its stream", func() (bool, string) {
		info, err := attackerStream.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.State.LastSeq >= last+2, fmt.Sprint(info.State.LastSeq)
	})

	// tenant1's inboxes are its own: watching all of them while tenant2
	// publishes with acks shows none of tenant2's.
	spy, err := client.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.FlushTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	victimNC, _, _ := harness.NATSAs(t, natsURL(t), nats.UserInfo(rig.t2.NATSUser, rig.t2.NATSPassword))
	victimJS, err := jetstream.New(victimNC)
	if err != nil {
		t.Fatal(err)
	}
	// A JetStream request of tenant2's (an API call with its reply inbox)
	// fails in its own account, which has no JetStream; its reply stays
	// tenant2's.
	probe, cancelProbe := context.WithTimeout(ctx, 2*time.Second)
	defer cancelProbe()
	_, _ = victimJS.AccountInfo(probe)
	if m, err := spy.NextMsg(time.Second); err == nil {
		t.Errorf("tenant1's _INBOX.> received %s: another account's reply", m.Subject)
	}
	if err := spy.Unsubscribe(); err != nil {
		t.Fatal(err)
	}

	// tenant1's records went into its own database: that is its right.
	after := snapshot(t)
	after.attackerRows = before.attackerRows
	if after.String() != before.String() {
		t.Errorf("the attacks changed the platform:\nbefore %s\nafter  %s", before, after)
	}
}
