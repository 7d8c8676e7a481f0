package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// The stats token is shown once: with new credentials, or when an apply
// issues it to a tenant that had none; never again after.
func TestPrintAppliedShowsTheStatsTokenOnce(t *testing.T) {
	p, err := profile.Parse([]byte("tenant: acme\nsink:\n  collection: rows\n  schema:\n    - {name: a, type: string}\n"), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	creds := tenant.Credentials{Tenant: "acme", S3AccessKey: "tenant-acme", S3SecretKey: "s3-secret", NATSUser: "tenant-acme", NATSPassword: "nats-secret", StatsToken: "acme.0123abcd"}
	for _, tt := range []struct {
		name       string
		res        tenant.Result
		wantToken  bool
		wantSecret bool
	}{
		{name: "first apply", res: tenant.Result{NewCredentials: true, NewStatsToken: true}, wantToken: true, wantSecret: true},
		{name: "token issued to a tenant that had none", res: tenant.Result{NewStatsToken: true}, wantToken: true},
		{name: "nothing new", res: tenant.Result{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.res.Credentials, tt.res.NATSUsersManaged = creds, true
			var out bytes.Buffer
			printApplied(&out, platformFlags{s3: "127.0.0.1:9000", natsURL: "nats://127.0.0.1:4222"}, tenant.Loaded{Profile: p}, tt.res, tenant.Store{Dir: t.TempDir()})
			if got := strings.Contains(out.String(), creds.StatsToken); got != tt.wantToken {
				t.Errorf("token shown = %v, want %v:\n%s", got, tt.wantToken, out.String())
			}
			if got := strings.Contains(out.String(), creds.S3SecretKey); got != tt.wantSecret {
				t.Errorf("S3 secret shown = %v, want %v:\n%s", got, tt.wantSecret, out.String())
			}
		})
	}
}
