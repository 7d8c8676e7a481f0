package tenant

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/ferret"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// startFerret runs a real FerretDB in the test's own folder and returns a
// client of it; both are stopped when the test ends.
func startFerret(t *testing.T) *mongo.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs, err := ferret.Start(ctx, ferret.Config{DataDir: filepath.Join(t.TempDir(), "ferret")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}
	t.Cleanup(fs.Stop)
	mc, err := mongo.Connect(options.Client().ApplyURI(fs.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return mc
}

// seed puts n rows in db.c, so that the database exists.
func seed(t *testing.T, mc *mongo.Client, db string, n int) {
	t.Helper()
	for i := range n {
		if _, err := mc.Database(db).Collection("c").InsertOne(t.Context(), bson.D{{Key: "n", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
}

func rows(t *testing.T, mc *mongo.Client, db string) int64 {
	t.Helper()
	n, err := mc.Database(db).Collection("c").CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A database that exists but that no record makes a tenant's (kept data
// whose record is gone, or made outside mysimbdp) is not handed to a new
// tenant naming it unless it adopts it; a tenant's own is never refused.
func TestUnclaimedDatabase(t *testing.T) {
	mc := startFerret(t)
	seed(t, mc, "orphan", 3)
	s := storeWith(t, map[string]string{"papa": "orphan-too"},
		Kept{Tenant: "kilo", Databases: []string{"orphan"}})
	if err := s.SaveDatabase("foxtrot", "orphan"); err != nil {
		t.Fatal(err)
	}
	seed(t, mc, "orphan-too", 1)
	// kilo's record names "orphan" as kept, foxtrot's as the database its
	// failed apply made: for those two it is their own. Tested one at a
	// time (a store holding both would make it foxtrot's for everyone).
	for _, tc := range []struct {
		name, tenant, db string
		adopt            bool
		store            Store
		err              string
	}{
		{"a new tenant names an existing database", "echo", "orphan", false, Store{Dir: t.TempDir()}, `"orphan" already exists and is no tenant's`},
		{"the same, with --adopt", "echo", "orphan", true, Store{Dir: t.TempDir()}, ""},
		{"a database that does not exist yet", "echo", "fresh", false, Store{Dir: t.TempDir()}, ""},
		{"its stored profile's database", "papa", "orphan-too", false, s, ""},
		{"the database its failed apply made", "foxtrot", "orphan", false, s, ""},
		{"the tenant changes to an existing database", "papa", "orphan", false, storeWith(t, map[string]string{"papa": "orphan-too"}), "already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := profile.Parse([]byte(profileYAML(tc.tenant, tc.db)), tc.tenant+".yaml")
			if err != nil {
				t.Fatal(err)
			}
			err = Platform{Store: tc.store, Mongo: mc}.checkUnclaimed(t.Context(), p, tc.adopt)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--adopt") {
				t.Fatalf("checkUnclaimed: %v, want an error with %q naming --adopt", err, tc.err)
			}
		})
	}
	kept := storeWith(t, nil, Kept{Tenant: "kilo", Databases: []string{"orphan"}})
	p, _ := profile.Parse([]byte(profileYAML("kilo", "orphan")), "kilo.yaml")
	if err := (Platform{Store: kept, Mongo: mc}).checkUnclaimed(t.Context(), p, false); err != nil {
		t.Errorf("kilo applied again to the data it kept: %v", err)
	}
	if n := rows(t, mc, "orphan"); n != 3 {
		t.Errorf("orphan holds %d rows after the checks, want 3", n)
	}
}

// Remove refuses, before it touches anything, a reserved database, a name
// that is no tenant, and a tenant whose records name another's database:
// the rows of each are still there.
func TestRemoveDropsNoOtherDatabase(t *testing.T) {
	mc := startFerret(t)
	for _, db := range []string{"mysimbdp", "platform-db", "alpha", "zulu", "delta"} {
		seed(t, mc, db, 2)
	}
	s := storeWith(t, map[string]string{"alpha": "alpha"},
		Kept{Tenant: "delta", Databases: []string{"delta"}, Bucket: "delta", Stream: contract.TenantStream("delta")})
	// hotel's failed apply recorded alpha's database: it is still alpha's.
	if err := s.SaveDatabase("hotel", "alpha"); err != nil {
		t.Fatal(err)
	}
	pl := Platform{Store: s, Mongo: mc, PlatformDB: "platform-db"}
	for _, tc := range []struct {
		tenant string
		opts   RemoveOptions
		err    string
	}{
		{"mysimbdp", RemoveOptions{}, "no such tenant"},
		{"mysimbdp", RemoveOptions{Force: true}, `"mysimbdp" is reserved`},
		{"platform-db", RemoveOptions{Force: true}, `"platform-db" is reserved`},
		{"admin", RemoveOptions{Force: true, KeepData: true}, "reserved"},
		{"config", RemoveOptions{Force: true}, "reserved"},
		{"local", RemoveOptions{Force: true}, "reserved"},
		{"zulu", RemoveOptions{}, "no such tenant"},
		{"Zulu", RemoveOptions{Force: true}, "not a tenant id"},
		{"hotel", RemoveOptions{}, `"alpha" is tenant alpha's`},
	} {
		t.Run(tc.tenant, func(t *testing.T) {
			_, err := Remove(t.Context(), pl, tc.tenant, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Remove(%s, %+v): %v, want refused with %q", tc.tenant, tc.opts, err, tc.err)
			}
		})
	}
	for _, db := range []string{"mysimbdp", "platform-db", "alpha", "zulu", "delta"} {
		if n := rows(t, mc, db); n != 2 {
			t.Errorf("database %s holds %d rows after the refused removes, want 2", db, n)
		}
	}
}
