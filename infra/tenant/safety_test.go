package tenant

import (
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// storeWith is a Store holding the given tenants' profiles (tenant ->
// sink database) and kept data.
func storeWith(t *testing.T, live map[string]string, kept ...Kept) Store {
	t.Helper()
	s := Store{Dir: t.TempDir()}
	for name, db := range live {
		if err := s.SaveProfile(name, []byte(profileYAML(name, db))); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range kept {
		if err := s.SaveKept(k); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func profileYAML(tenant, db string) string {
	return "tenant: " + tenant + "\nsink:\n  database: " + db + "\n  collection: c\n  schema:\n    - {name: a, type: string}\n"
}

func TestRemovable(t *testing.T) {
	s := storeWith(t, map[string]string{"alpha": "alpha", "bravo": "shared-db"},
		Kept{Tenant: "delta", Databases: []string{"delta", "delta-old"}, Bucket: "delta", Stream: contract.TenantStream("delta")})
	if err := s.SaveDatabase("foxtrot", "foxtrot-db"); err != nil {
		t.Fatal(err)
	}
	pl := Platform{Store: s, PlatformDB: "platform-db"}
	for _, tc := range []struct {
		name, tenant string
		force        bool
		want         []string // databases removed; nil: refused
		err          string
	}{
		{"onboarded tenant", "alpha", false, []string{"alpha"}, ""},
		{"onboarded tenant, own database name", "bravo", false, []string{"shared-db"}, ""},
		{"kept data", "delta", false, []string{"delta", "delta-old"}, ""},
		{"failed apply: its recorded database", "foxtrot", false, []string{"foxtrot-db"}, ""},
		{"unknown tenant", "zulu", false, nil, "no such tenant"},
		{"unknown tenant, --force", "zulu", true, []string{"zulu"}, ""},
		{"not a tenant id", "Bad_Name", true, nil, "not a tenant id"},
		{"path", "../alpha", true, nil, "not a tenant id"},
		{"platform database", "mysimbdp", false, nil, "no such tenant"},
		{"configured platform database, --force", "platform-db", true, nil, "reserved for the platform"},
		{"MongoDB's admin, --force", "admin", true, nil, "reserved"},
		{"MongoDB's config, --force", "config", true, nil, "reserved"},
		{"MongoDB's local, --force", "local", true, nil, "reserved"},
		{"another tenant's database, --force", "shared-db", true, nil, "is tenant bravo's"},
		{"kept database, --force", "delta-old", true, nil, "tenant delta kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := pl.removable(tc.tenant, tc.force)
			if tc.want == nil {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("removable(%q): %v, %v; want an error with %q", tc.tenant, got, err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("removable(%q) = %v, %v; want %v", tc.tenant, got, err, tc.want)
			}
		})
	}
	// The default platform database is reserved when none is configured.
	if _, _, err := (Platform{Store: s}).removable("mysimbdp", true); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("remove mysimbdp --force: %v, want reserved", err)
	}
}

func TestCheckDatabase(t *testing.T) {
	s := storeWith(t, map[string]string{"alpha": "alpha"},
		Kept{Tenant: "delta", Databases: []string{"delta"}, Bucket: "delta", Stream: contract.TenantStream("delta")})
	pl := Platform{Store: s}
	for _, tc := range []struct {
		name, tenant, db string
		adopt            bool
		adopted          string
		err              string
	}{
		{"own database", "echo", "echo", false, "", ""},
		{"reserved", "echo", "mysimbdp", true, "", "reserved for the platform"},
		{"live tenant's, even adopting", "echo", "alpha", true, "", "is tenant alpha's database"},
		{"kept database", "echo", "delta", false, "", "tenant delta kept when it was removed (tenant remove --keep-data); apply with --adopt"},
		{"kept database, --adopt", "echo", "delta", true, "delta", ""},
		{"its own kept database", "delta", "delta", false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := profile.Parse([]byte(profileYAML(tc.tenant, tc.db)), tc.tenant+".yaml")
			if err != nil {
				t.Fatal(err)
			}
			adopted, err := pl.checkDatabase(p, tc.adopt)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("check: %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(adopted, ",") != tc.adopted {
				t.Errorf("check: adopted %v, %v; want %q", adopted, err, tc.adopted)
			}
		})
	}
}

func TestReclaim(t *testing.T) {
	for _, tc := range []struct {
		name, tenant, db string
		adopted          []string
		left             map[string]Kept // tenant -> record left; absent: none
	}{
		{"the tenant takes its data back", "delta", "delta", nil, map[string]Kept{}},
		{"the tenant comes back with another database", "delta", "delta-new", nil,
			map[string]Kept{"delta": {Tenant: "delta", Databases: []string{"delta"}}}},
		{"another tenant adopts the database", "echo", "delta", []string{"delta"},
			map[string]Kept{"delta": {Tenant: "delta", Bucket: "delta", Stream: contract.TenantStream("delta")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storeWith(t, nil, Kept{Tenant: "delta", Databases: []string{"delta"}, Bucket: "delta", Stream: contract.TenantStream("delta")})
			p, err := profile.Parse([]byte(profileYAML(tc.tenant, tc.db)), tc.tenant+".yaml")
			if err != nil {
				t.Fatal(err)
			}
			if err := (Platform{Store: s}).reclaim(p, tc.adopted); err != nil {
				t.Fatal(err)
			}
			all, err := s.AllKept()
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(tc.left) {
				t.Fatalf("kept records %+v, want %+v", all, tc.left)
			}
			for _, k := range all {
				want := tc.left[k.Tenant]
				if strings.Join(k.Databases, ",") != strings.Join(want.Databases, ",") || k.Bucket != want.Bucket || k.Stream != want.Stream {
					t.Errorf("kept %+v, want %+v", k, want)
				}
			}
		})
	}
}
