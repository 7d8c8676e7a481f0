package tenant

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/control"
	"github.com/mysimbdp/mysimbdp/infra/minioadmin"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// Status is what the platform holds for one tenant.
type Status struct {
	Tenant     string
	Bucket     bool
	QuotaBytes uint64
	S3User     bool
	// NATSUser is "yes", "no", or "unmanaged" (a NATS not run by the
	// platform, whose users are the operator's).
	NATSUser   string
	Stream     bool
	StreamMsgs uint64
	Paused     bool
	// Functions are "name (ready/replicas)".
	Functions []string
	// Missing lists what the last applied profile asks for and is not
	// there; State is "ready" when nothing is missing.
	Missing []string
	State   string
}

// List reports every tenant the platform knows: the tenants applied with
// this data folder, those removed with their data kept, and any other that
// has functions or a stream.
func List(ctx context.Context, pl Platform) ([]Status, error) {
	known := map[string]bool{}
	stored, err := pl.Store.Tenants()
	if err != nil {
		return nil, err
	}
	for _, t := range stored {
		known[t] = true
	}
	kept, err := pl.Store.AllKept()
	if err != nil {
		return nil, err
	}
	for _, k := range kept {
		known[k.Tenant] = true
	}
	fns, err := pl.Gateway.Functions(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	byTenant := map[string][]string{}
	for _, fn := range fns {
		if fn.Labels == nil || (*fn.Labels)[contract.LabelTenant] == "" {
			continue
		}
		t := (*fn.Labels)[contract.LabelTenant]
		known[t] = true
		byTenant[t] = append(byTenant[t], fmt.Sprintf("%s (%d/%d)", fn.Name, fn.AvailableReplicas, fn.Replicas))
	}
	names := pl.JetStream.StreamNames(ctx)
	for n := range names.Name() {
		if t, ok := contract.TenantOfStream(n); ok {
			known[t] = true
		}
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("list tenants: streams: %w", err)
	}
	natsUsers := map[string]bool{}
	natsManaged := true
	users, err := natsauth.List(ctx, pl.NATS)
	switch {
	case errors.Is(err, natsauth.ErrNoService):
		natsManaged = false
	case err != nil:
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	for _, u := range users {
		natsUsers[u] = true
		known[u] = true
	}

	var out []Status
	for t := range known {
		st, err := status(ctx, pl, t, byTenant[t], natsManaged, natsUsers[t])
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out, nil
}

func status(ctx context.Context, pl Platform, t string, fns []string, natsManaged, natsUser bool) (Status, error) {
	st := Status{Tenant: t, Functions: fns, NATSUser: "no"}
	wrap := func(err error) error { return fmt.Errorf("status of tenant %s: %w", t, err) }
	var err error
	if st.Bucket, err = pl.S3.BucketExists(ctx, t); err != nil {
		return st, wrap(err)
	}
	if st.Bucket {
		if st.QuotaBytes, err = pl.Admin.Quota(ctx, t); err != nil {
			return st, wrap(err)
		}
	}
	_, err = pl.Admin.User(ctx, S3User(t))
	switch {
	case err == nil:
		st.S3User = true
	case !minioadmin.IsNotFound(err):
		return st, wrap(err)
	}
	switch {
	case !natsManaged:
		st.NATSUser = "unmanaged"
	case natsUser:
		st.NATSUser = "yes"
	}
	s, err := pl.JetStream.Stream(ctx, contract.TenantStream(t))
	switch {
	case err == nil:
		st.Stream, st.StreamMsgs = true, s.CachedInfo().State.Msgs
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return st, wrap(err)
	}
	if st.Paused, err = control.Paused(ctx, pl.JetStream, t); err != nil {
		return st, wrap(err)
	}

	// What the last applied profile asks for; a tenant without one (e.g.
	// kept data after `tenant remove --keep-data`) is only described.
	raw, err := pl.Store.Profile(t)
	if err != nil {
		st.State = "not applied here"
		if !st.Bucket && !st.Stream && len(fns) == 0 {
			st.State = "removed"
		} else if len(fns) == 0 && !st.S3User && st.NATSUser != "yes" {
			st.State = "removed (data kept)"
		}
		return st, nil
	}
	p, err := profile.Parse(raw, "stored profile of "+t)
	if err != nil {
		return st, wrap(err)
	}
	need := func(ok bool, what string) {
		if !ok {
			st.Missing = append(st.Missing, what)
		}
	}
	need(st.Bucket, "bucket")
	need(st.S3User, "MinIO user")
	need(st.NATSUser != "no", "NATS user")
	need(st.Stream, "stream")
	need(!st.Bucket || st.QuotaBytes == uint64(p.Storage.MaxBytes), "quota")
	for _, d := range Deployments(p, FunctionEnv{}) {
		found := false
		for _, f := range fns {
			found = found || strings.HasPrefix(f, d.Service+" ")
		}
		need(found, "function "+d.Service)
	}
	st.State = "ready"
	if len(st.Missing) > 0 {
		st.State = "incomplete"
	}
	return st, nil
}
