package tenant

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// A dataset may name a quality checker of its tenant's own
// (quality_checker.function), which the tenant's platform batch app
// invokes through the gateway (shared/checker), signed with the checker's
// own invocation key. Three steps give the app what it needs, and no more
// than its own tenant's:
//
//   - CheckCheckers, before Apply changes anything, refuses a checker that
//     is not the tenant's function;
//   - CheckerEnv gives the batch app's deployment the checkers' names and
//     the gateway's URL;
//   - WithCheckerKeys stores each checker's key (the very secret the
//     checker's own deployment gets, WithInvokeKey) and mounts it in the
//     batch app, so that either may be deployed first.

// CheckerNames validates and sorts the checker functions the tenant's
// datasets name (blanks and repeats are dropped): each must be one of
// the tenant's function names (contract.CheckerName) and not one of the
// platform's apps for the tenant.
func CheckerNames(p *profile.Profile, checkers []string) ([]string, error) {
	var out []string
	for _, fn := range checkers {
		if fn == "" || slices.Contains(out, fn) {
			continue
		}
		if err := contract.CheckerName(p.Tenant, fn); err != nil {
			return nil, fmt.Errorf("%s: quality_checker: %w", p.Source(), err)
		}
		if fn == p.BatchFunction() || fn == p.StreamFunction() {
			return nil, fmt.Errorf("%s: quality_checker: %s is the platform's ingest app of tenant %s, not a checker", p.Source(), fn, p.Tenant)
		}
		out = append(out, fn)
	}
	slices.Sort(out)
	return out, nil
}

// CheckerEnv is the environment the tenant's platform batch app needs to
// invoke the checkers its datasets name: their names
// (contract.EnvCheckerFunctions) and the gateway as functions reach it
// (contract.EnvGatewayURL: env.GatewayURL, else the one inside an
// OpenFaaS cluster). No checker: nil, so that a profile without one
// deploys its app as before.
func CheckerEnv(p *profile.Profile, env FunctionEnv, checkers []string) (map[string]string, error) {
	names, err := CheckerNames(p, checkers)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	gw := env.GatewayURL
	if gw == "" {
		gw = contract.DefaultClusterGatewayURL
	}
	return map[string]string{
		contract.EnvCheckerFunctions: strings.Join(names, ","),
		contract.EnvGatewayURL:       gw,
	}, nil
}

// CheckCheckers refuses, before anything is changed, a checker that is
// not the tenant's own function although its name starts like one: a
// function deployed with another tenant's label or with none (a
// platform function), or a name under another known tenant whose id
// starts with this one's (tenant1-x-check is tenant1-x's when tenant1-x
// is a tenant). A checker not deployed yet is accepted: it gets the key
// the app holds whenever it is deployed with the tenant's label.
func (pl Platform) CheckCheckers(ctx context.Context, p *profile.Profile, checkers []string) error {
	names, err := CheckerNames(p, checkers)
	if err != nil || len(names) == 0 {
		return err
	}
	fns, err := pl.Gateway.Functions(ctx, "")
	if err != nil {
		return fmt.Errorf("tenant %s: check its quality checkers: %w", p.Tenant, err)
	}
	owner := map[string]string{}
	tenants := map[string]bool{}
	for _, fn := range fns {
		t := ""
		if fn.Labels != nil {
			t = (*fn.Labels)[contract.LabelTenant]
		}
		owner[fn.Name] = t
		if t != "" {
			tenants[t] = true
		}
	}
	stored, err := pl.Store.Tenants()
	if err != nil {
		return fmt.Errorf("tenant %s: check its quality checkers: %w", p.Tenant, err)
	}
	for _, t := range stored {
		tenants[t] = true
	}
	for _, fn := range names {
		if t, ok := owner[fn]; ok && t != p.Tenant {
			if t == "" {
				return fmt.Errorf("%s: quality_checker: %s is a platform function, not tenant %s's (no %s label)", p.Source(), fn, p.Tenant, contract.LabelTenant)
			}
			return fmt.Errorf("%s: quality_checker: %s is tenant %s's function, not tenant %s's", p.Source(), fn, t, p.Tenant)
		}
		for t := range tenants {
			if t != p.Tenant && len(t) > len(p.Tenant) && strings.HasPrefix(fn, t+"-") {
				return fmt.Errorf("%s: quality_checker: %s is named as tenant %s's function, not tenant %s's", p.Source(), fn, t, p.Tenant)
			}
		}
	}
	return nil
}

// WithCheckerKeys gives d, the tenant's platform batch app, the
// invocation key of each checker: it stores the key, derived from the
// platform's master key, as the secret contract.InvokeKeySecret(checker)
// (the same value the checker's own deployment stores, WithInvokeKey) and
// makes d mount it. Only keys of the names CheckerNames accepts for p,
// the tenant's own, are ever given. An empty master leaves d as it is, as
// WithInvokeKey does: the functions then verify no invocation.
func WithCheckerKeys(ctx context.Context, gw *gateway.Client, master string, p *profile.Profile, d *types.FunctionDeployment, checkers []string) error {
	names, err := CheckerNames(p, checkers)
	if err != nil || master == "" {
		return err
	}
	for _, fn := range names {
		name := contract.InvokeKeySecret(fn)
		key := invokesig.FunctionKey([]byte(master), fn)
		if err := gw.SetSecret(ctx, types.Secret{Name: name, Namespace: d.Namespace, RawValue: key}); err != nil {
			return fmt.Errorf("store the invocation key of checker %s: %w", fn, err)
		}
		if !slices.Contains(d.Secrets, name) {
			d.Secrets = append(d.Secrets, name)
		}
	}
	return nil
}

// ProfileCheckers are the checker functions the datasets of p name whose
// files the platform's batch app ingests.
func ProfileCheckers(p *profile.Profile) []string {
	var names []string
	for _, d := range p.AllDatasets() {
		if d.QualityChecker.Function != "" && d.Apps.Batch != profile.AppOwn {
			names = append(names, d.QualityChecker.Function)
		}
	}
	return names
}
