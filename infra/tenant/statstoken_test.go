package tenant

import (
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// The token `tenant apply` issues is the one the stats function, holding
// only its own invocation key, accepts for that tenant; and keeping it
// changes none of the tenant's other credentials.
func TestStatsTokenIsTheStatsFunctions(t *testing.T) {
	const master = "master-key"
	statsKey := invokesig.FunctionKey([]byte(master), contract.StatsFunction)
	for _, tt := range []struct {
		name, tenant string
		key          []byte
		want         string
		ok           bool
	}{
		{name: "the stats function's key", tenant: "acme", key: statsKey, want: "acme", ok: true},
		{name: "another function's key", tenant: "acme", key: invokesig.FunctionKey([]byte(master), "acme-batch-ingest")},
		{name: "another master key", tenant: "acme", key: invokesig.FunctionKey([]byte("other"), contract.StatsFunction)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := stats.TokenTenant(tt.key, StatsToken(master, tt.tenant))
			if got != tt.want || ok != tt.ok {
				t.Fatalf("TokenTenant = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}

	s := Store{Dir: t.TempDir()}
	c, _, err := s.LoadOrCreate("acme")
	if err != nil {
		t.Fatal(err)
	}
	c.StatsToken = StatsToken(master, "acme")
	if err := s.SaveStatsToken(c); err != nil {
		t.Fatal(err)
	}
	back, err := s.Load("acme")
	if err != nil {
		t.Fatal(err)
	}
	if back != c {
		t.Fatalf("stored %+v, want %+v", back, c)
	}
}
