package kubernetes

import (
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// acme is a tenant profile with both flows, for the functions `mysimbdp
// tenant apply` deploys.
func acme(t *testing.T) *profile.Profile {
	t.Helper()
	p, err := profile.Parse([]byte("tenant: acme\nsink:\n  collection: c\n  schema:\n    - {name: a, type: string}\nstream:\n  window: 5s\n"), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScaleLabels: on OpenFaaS Pro, its autoscaler acts on
// com.openfaas.scale.* labels (target as requests per second): every
// function mysimbdp deploys, stack.yml's and a tenant's, carries only the
// bounds of those (min, max, which OpenFaaS honours too), the rest under
// com.mysimbdp.scale.*, and none under a name the scaler reads only as
// deprecated.
func TestScaleLabels(t *testing.T) {
	st, err := stack.LoadWith(repo(t, "stack.yml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]map[string]string{}
	for name, fn := range st.Functions {
		labels["stack.yml "+name] = fn.Labels
	}
	for _, d := range tenant.Deployments(acme(t), tenant.FunctionEnv{}) {
		if d.Labels == nil {
			t.Fatalf("tenant function %s has no labels", d.Service)
		}
		labels["tenant apply "+d.Service] = *d.Labels
	}
	bounds := []string{contract.LabelScaleMin, contract.LabelScaleMax}
	deprecated := contract.DeprecatedScaleLabels()
	for _, fn := range slices.Sorted(maps.Keys(labels)) {
		for k := range labels[fn] {
			if now, ok := deprecated[k]; ok {
				t.Errorf("%s: label %s is deprecated (use %s)", fn, k, now)
			} else if strings.HasPrefix(k, contract.LabelScalePrefix) && !slices.Contains(bounds, k) {
				t.Errorf("%s: label %s would drive OpenFaaS Pro's autoscaler; only %v are shared", fn, k, bounds)
			}
		}
	}
	for old, now := range deprecated {
		if !strings.HasPrefix(old, contract.LabelScalePrefix) || !strings.HasPrefix(now, contract.LabelScaleOwnPrefix) {
			t.Errorf("deprecated label %s → %s: want %s* → %s*", old, now, contract.LabelScalePrefix, contract.LabelScaleOwnPrefix)
		}
	}
}

// TestRegistry: with MYSIMBDP_REGISTRY set, the images platform-apps.yml
// builds and pushes are the ones `mysimbdp tenant apply --registry`
// deploys for a tenant, and stack.yml's platform functions are pushed to
// the same registry; unset, all are Docker Hub's mysimbdp/.
func TestRegistry(t *testing.T) {
	for _, registry := range []string{"ghcr.io/acme", ""} {
		lookup := func(k string) (string, bool) {
			if k == contract.EnvRegistry && registry != "" {
				return registry, true
			}
			return "", false
		}
		apps, err := stack.LoadWith(repo(t, "platform-apps.yml"), lookup)
		if err != nil {
			t.Fatal(err)
		}
		var built []string
		for _, fn := range apps.Functions {
			built = append(built, fn.Image)
		}
		for _, d := range tenant.Deployments(acme(t), tenant.FunctionEnv{Registry: registry}) {
			if !slices.Contains(built, d.Image) {
				t.Errorf("registry %q: tenant apply deploys %s with %s, platform-apps.yml builds %v", registry, d.Service, d.Image, built)
			}
		}
		st, err := stack.LoadWith(repo(t, "stack.yml"), lookup)
		if err != nil {
			t.Fatal(err)
		}
		want := "mysimbdp/"
		if registry != "" {
			want = registry + "/"
		}
		for name, fn := range st.Functions {
			if _, ok := fn.Labels[contract.LabelTenant]; ok {
				continue // a tenant's own app, in its own repository
			}
			if !strings.HasPrefix(fn.Image, want) {
				t.Errorf("registry %q: stack.yml %s image %s, want it under %s", registry, name, fn.Image, want)
			}
		}
	}
}

// checkPlatformCredentials: the platform's functions (stack.yml's that
// mount mysimbdp-credentials), given the chart's OpenFaaS secrets as
// faas-netes mounts them, read with the functions' own code
// (secret.FunctionEnv) the MongoDB URI given and the chart's NATS as the
// platform user with the Secret's password.
func checkPlatformCredentials(t *testing.T, r rendered, natsURL, mongoURI string) {
	t.Helper()
	dir := t.TempDir()
	for key, s := range r.secrets {
		ns, name, _ := strings.Cut(key, "/")
		if ns != "openfaas-fn" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(r.secretValue(t, ns, name, name)), 0o600); err != nil {
			t.Fatal(err)
		}
		if len(s.StringData)+len(s.Data) != 1 {
			t.Errorf("OpenFaaS secret %s has %d keys, want one named after it", key, len(s.StringData)+len(s.Data))
		}
	}
	st, err := stack.LoadWith(repo(t, "stack.yml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	want, err := url.Parse(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	password := r.secretValue(t, namespace, release+"-nats-auth", "nats-password")
	var n int
	for name, fn := range st.Functions {
		if !slices.Contains(fn.Secrets, contract.PlatformCredentialsSecret) {
			continue
		}
		n++
		vars := maps.Clone(fn.Environment)
		vars[contract.EnvSecretsDir] = dir
		env, errs := secret.FunctionEnv(func(k string) string { return vars[k] })
		if len(errs) > 0 {
			t.Errorf("stack.yml %s reads its environment: %v", name, errs)
			continue
		}
		if env.MongoURI != mongoURI {
			t.Errorf("stack.yml %s: MongoDB %q, want %q", name, env.MongoURI, mongoURI)
		}
		u, err := url.Parse(env.NATSURL)
		if err != nil {
			t.Errorf("stack.yml %s: NATS URL: %v", name, err)
			continue
		}
		if pw, _ := u.User.Password(); u.Host != want.Host || u.User.Username() != natsauth.PlatformUser || pw != password {
			t.Errorf("stack.yml %s: NATS %s, want %s as %s with the Secret's password", name, u.Redacted(), want.Host, natsauth.PlatformUser)
		}
	}
	if n == 0 {
		t.Errorf("no stack.yml function mounts %s", contract.PlatformCredentialsSecret)
	}
}
