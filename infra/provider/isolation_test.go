package provider

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// A tenant's function tries to read what a local platform keeps in its
// data folder and what other replicas hold: each attempt is refused, its
// own secret is readable, and a platform function (the provider's user)
// reads the same files, which shows the refusals come from the replica's
// user and not from the test's set-up.
func TestTenantReplicaCannotReadDataFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		// Not skipped: without root the promise does not hold (replicas
		// share the provider's user), and the suite must say so.
		t.Fatal("run the tests as root (as CI does): tenant replicas get OS users of their own only when the provider runs as root")
	}
	data := t.TempDir() // the platform's <data>, laid out as mysimbdp up does
	h := newHarness(t, func(c *Config) {
		c.DataDir = filepath.Join(data, "provider")
	})
	write := func(rel, v string) string {
		t.Helper()
		path := filepath.Join(data, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	otherCreds := write("tenants/tenant2/credentials.json", `{"s3_secret_key":"victim"}`)
	platformSecret := write("secrets/nats/password", "platform-nats-password")

	for _, s := range []types.Secret{
		{Name: "tenant1-key", Value: "mine"},
		{Name: "tenant2-key", Value: "theirs"},
		{Name: "platform-key", Value: "platform"},
	} {
		h.must(http.StatusCreated, http.MethodPost, "/system/secrets", s)
	}
	deploy := func(name, tenant, secret string) {
		s := spec(name, nil, nil)
		if tenant != "" {
			s.Labels = &map[string]string{contract.LabelTenant: tenant}
		}
		s.Secrets = []string{secret}
		h.deploy(s)
		h.waitReplicas(name, "openfaas-fn", 1)
		h.pids(name, "openfaas-fn")
	}
	deploy("t1-app", "tenant1", "tenant1-key")
	deploy("t2-app", "tenant2", "tenant2-key")
	deploy("platform", "", "platform-key")

	// Where the other replicas keep their copies of their secrets.
	glob := func(fn, secret string) string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(h.p.runDir, "openfaas-fn", fn, "*", "secrets", secret))
		if len(m) == 0 {
			m, _ = filepath.Glob(filepath.Join(h.cfg.DataDir, "replicas", "openfaas-fn", fn, "*", "secrets", secret))
		}
		if len(m) != 1 {
			t.Fatalf("%s's copy of %s: found %v", fn, secret, m)
		}
		return m[0]
	}
	otherReplicaSecret := glob("t2-app", "tenant2-key")
	platformReplicaSecret := glob("platform", "platform-key")
	providerSecret := filepath.Join(h.cfg.DataDir, "secrets", "openfaas-fn", "tenant2-key")
	state := filepath.Join(h.cfg.DataDir, "state.json")

	read := func(fn, path string) (int, string) {
		return h.invoke(fn + "/read?path=" + url.QueryEscape(path))
	}
	list := func(fn, path string) (int, string) {
		return h.invoke(fn + "/list?path=" + url.QueryEscape(path))
	}
	attempts := []struct {
		name string
		try  func(fn string) (int, string)
	}{
		{"another tenant's credentials.json", func(fn string) (int, string) { return read(fn, otherCreds) }},
		{"the platform's NATS password", func(fn string) (int, string) { return read(fn, platformSecret) }},
		{"the provider's secret store", func(fn string) (int, string) { return read(fn, providerSecret) }},
		{"the provider's state", func(fn string) (int, string) { return read(fn, state) }},
		{"another tenant's replica secret", func(fn string) (int, string) { return read(fn, otherReplicaSecret) }},
		{"a platform replica's secret", func(fn string) (int, string) { return read(fn, platformReplicaSecret) }},
		{"listing the data folder", func(fn string) (int, string) { return list(fn, data) }},
		{"listing the replicas' run folder", func(fn string) (int, string) { return list(fn, h.p.runDir) }},
		{"listing another tenant's function folder", func(fn string) (int, string) {
			return list(fn, filepath.Join(h.p.runDir, "openfaas-fn", "t2-app"))
		}},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			code, body := a.try("t1-app")
			if code != http.StatusForbidden || !strings.Contains(body, "permission denied") {
				t.Errorf("tenant1's app got %d %q, want 403 permission denied", code, body)
			}
			// The control: the provider's user reads it.
			if code, body := a.try("platform"); code != http.StatusOK {
				t.Errorf("the platform function got %d %q, want 200 (the test's files are there)", code, body)
			}
		})
	}

	if code, body := h.invoke("t1-app/secret?name=tenant1-key"); code != http.StatusOK || body != "mine" {
		t.Errorf("tenant1's own secret = %d %q, want 200 \"mine\"", code, body)
	}
	uid := func(fn string) int {
		t.Helper()
		code, body := h.invoke(fn + "/uid")
		f := strings.Fields(body)
		if code != http.StatusOK || len(f) < 3 {
			t.Fatalf("%s /uid = %d %q", fn, code, body)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if f[0] != f[1] || f[2] != "[]" {
			t.Errorf("%s runs as uid/gid/groups %q, want gid = uid and no supplementary groups", fn, body)
		}
		return n
	}
	u1, u2 := uid("t1-app"), uid("t2-app")
	lo, hi := int(h.p.cfg.TenantUIDFirst), int(h.p.cfg.TenantUIDFirst)+int(h.p.cfg.TenantUIDCount)
	if u1 == u2 || u1 < lo || u1 >= hi || u2 < lo || u2 >= hi {
		t.Errorf("tenant uids = %d, %d: want distinct, in [%d, %d)", u1, u2, lo, hi)
	}
	if code, body := h.invoke("platform/uid"); code != http.StatusOK || !strings.HasPrefix(body, fmt.Sprintf("%d ", os.Geteuid())) {
		t.Errorf("platform function runs as %q, want the provider's uid %d", body, os.Geteuid())
	}

	// A tenant keeps its user across a provider restart.
	h.close()
	h2 := startHarness(t, h.cfg)
	h2.waitReplicas("t1-app", "openfaas-fn", 1)
	h2.pids("t1-app", "openfaas-fn")
	if code, body := h2.invoke("t1-app/uid"); code != http.StatusOK || !strings.HasPrefix(body, strconv.Itoa(u1)+" ") {
		t.Errorf("after a restart tenant1's app runs as %q, want uid %d", body, u1)
	}
	if fi, err := os.Stat(h.cfg.DataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("provider data folder: %v, want mode 0700", fi.Mode())
	}
}
