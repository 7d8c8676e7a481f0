package tenant

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// Credentials are what a tenant's clients log in with. They are generated
// on the first apply, kept in the data folder (like the platform's own
// generated credentials) and reused by every later apply, so applying a
// profile again changes no password.
type Credentials struct {
	Tenant string `json:"tenant"`
	// S3AccessKey and S3SecretKey reach only the tenant's bucket.
	S3AccessKey string `json:"s3_access_key"`
	S3SecretKey string `json:"s3_secret_key"`
	// NATSUser and NATSPassword may publish only to ingest.<tenant>.>.
	NATSUser     string `json:"nats_user"`
	NATSPassword string `json:"nats_password"`
	// NATSPasswordHash is what the NATS server holds: kept so that every
	// apply hands it the same hash (bcrypt salts each hash anew).
	NATSPasswordHash string `json:"nats_password_hash"`
	// NATSFunctionPassword is the password of the tenant's functions' NATS
	// user (natsauth.FunctionUser), which may only publish the tenant's
	// reports; it reaches the functions in their credentials secret.
	NATSFunctionPassword     string `json:"nats_function_password"`
	NATSFunctionPasswordHash string `json:"nats_function_password_hash"`
	// MongoUser and MongoPassword: a user limited to the tenant's database,
	// on a MongoDB that has users (FerretDB v1 has none).
	MongoUser     string `json:"mongo_user"`
	MongoPassword string `json:"mongo_password"`
	// StatsToken reads the tenant's own stats, and no other tenant's
	// (GET /function/stats with Authorization: Bearer <token>); it
	// derives from the platform's invocation master key (StatsToken), so
	// it is empty where Apply had none. It is the tenant's, not its
	// functions': it is not in the credentials secret.
	StatsToken string `json:"stats_token,omitempty"`
}

// StatsToken is the stats token of tenant under the platform's invocation
// master key: the stats function checks it with its own invocation key,
// from which it derives (shared/stats.TenantToken).
func StatsToken(master, tenant string) string {
	return stats.TenantToken(invokesig.FunctionKey([]byte(master), contract.StatsFunction), tenant)
}

// SaveStatsToken stores c's stats token with its credentials.
func (s Store) SaveStatsToken(c Credentials) error {
	stored, err := s.Load(c.Tenant)
	if err != nil {
		return err
	}
	stored.StatsToken = c.StatsToken
	return s.write(c.Tenant, "credentials.json", mustJSON(stored))
}

// S3User is the MinIO user of a tenant.
func S3User(tenant string) string { return "tenant-" + tenant }

// S3Policy is the name of the MinIO policy of a tenant's user.
func S3Policy(tenant string) string { return "mysimbdp-tenant-" + tenant }

// MongoUser is the database user of a tenant, defined in its database.
func MongoUser(tenant string) string { return "tenant-" + tenant }

// Store keeps tenants' credentials and last applied profiles in a folder,
// one sub-folder per tenant, and what `tenant remove --keep-data` left of
// removed tenants:
//
//	<dir>/<tenant>/credentials.json   (mode 0600)
//	<dir>/<tenant>/profile.yaml       the profile last applied
//	<dir>/<tenant>/database           the database apply made the tenant's
//	<dir>/<tenant>/removed-datasets.json  collections of datasets that left
//	                                  the profile, kept (datasets.go)
//	<dir>/.kept/<tenant>.json         the tenant's kept data (Kept)
type Store struct{ Dir string }

// keptDir holds the Kept records; its name is no tenant id, so Tenants
// never lists it.
func (s Store) keptDir() string { return filepath.Join(s.Dir, ".kept") }

// Kept is the data a removed tenant kept (`tenant remove --keep-data`):
// it stays the tenant's. Applying the same tenant id again takes it back;
// another tenant whose profile names it is refused unless it adopts it.
type Kept struct {
	Tenant    string   `json:"tenant"`
	Databases []string `json:"databases,omitempty"`
	Bucket    string   `json:"bucket,omitempty"`
	Stream    string   `json:"stream,omitempty"`
}

func (k Kept) empty() bool { return len(k.Databases) == 0 && k.Bucket == "" && k.Stream == "" }

// KeptData returns what tenant kept (fs.ErrNotExist if nothing).
func (s Store) KeptData(tenant string) (Kept, error) {
	var k Kept
	raw, err := os.ReadFile(filepath.Join(s.keptDir(), tenant+".json"))
	if err != nil {
		return k, fmt.Errorf("tenant %s kept data: %w", tenant, err)
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return k, fmt.Errorf("tenant %s kept data: %w", tenant, err)
	}
	return k, nil
}

// SaveKept records what k.Tenant kept; a record with nothing left in it
// is deleted.
func (s Store) SaveKept(k Kept) error {
	path := filepath.Join(s.keptDir(), k.Tenant+".json")
	if k.empty() {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("tenant %s: forget kept data: %w", k.Tenant, err)
		}
		return nil
	}
	if err := os.MkdirAll(s.keptDir(), 0o700); err != nil {
		return fmt.Errorf("tenant %s: record kept data: %w", k.Tenant, err)
	}
	return writeFile(path, mustJSON(k))
}

// AllKept lists every removed tenant's kept data, sorted by tenant.
func (s Store) AllKept() ([]Kept, error) {
	entries, err := os.ReadDir(s.keptDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list kept data in %s: %w", s.keptDir(), err)
	}
	var out []Kept
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		k, err := s.KeptData(name)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out, nil
}

func (s Store) tenantDir(tenant string) string { return filepath.Join(s.Dir, tenant) }

// LoadOrCreate returns the tenant's credentials, generating and saving
// them if it has none; created says whether they are new. Credentials made
// before tenants' functions had a NATS user of their own get one.
func (s Store) LoadOrCreate(tenant string) (c Credentials, created bool, err error) {
	c, err = s.Load(tenant)
	if err == nil {
		if c.NATSFunctionPassword != "" {
			return c, false, nil
		}
		if err := c.newFunctionUser(); err != nil {
			return c, false, err
		}
		return c, false, s.write(tenant, "credentials.json", mustJSON(c))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return c, false, err
	}
	c = Credentials{Tenant: tenant, S3AccessKey: S3User(tenant), NATSUser: natsauth.TenantUser(tenant), MongoUser: MongoUser(tenant)}
	for _, p := range []*string{&c.S3SecretKey, &c.NATSPassword, &c.MongoPassword} {
		if *p, err = newPassword(); err != nil {
			return c, false, err
		}
	}
	if c.NATSPasswordHash, err = natsauth.Hash(c.NATSPassword); err != nil {
		return c, false, err
	}
	if err := c.newFunctionUser(); err != nil {
		return c, false, err
	}
	if err := s.write(tenant, "credentials.json", mustJSON(c)); err != nil {
		return c, false, err
	}
	return c, true, nil
}

// newFunctionUser gives the tenant's functions a NATS password.
func (c *Credentials) newFunctionUser() (err error) {
	if c.NATSFunctionPassword, err = newPassword(); err != nil {
		return err
	}
	c.NATSFunctionPasswordHash, err = natsauth.Hash(c.NATSFunctionPassword)
	return err
}

// NATSHashes are what the NATS server holds of the tenant's users.
func (c Credentials) NATSHashes() natsauth.Tenant {
	return natsauth.Tenant{Client: c.NATSPasswordHash, Functions: c.NATSFunctionPasswordHash}
}

// Load returns the tenant's stored credentials (fs.ErrNotExist if none).
func (s Store) Load(tenant string) (Credentials, error) {
	var c Credentials
	raw, err := os.ReadFile(filepath.Join(s.tenantDir(tenant), "credentials.json"))
	if err != nil {
		return c, fmt.Errorf("tenant %s credentials: %w", tenant, err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("tenant %s credentials: %w", tenant, err)
	}
	return c, nil
}

// SaveProfile keeps the profile last applied.
func (s Store) SaveProfile(tenant string, yaml []byte) error {
	return s.write(tenant, "profile.yaml", yaml)
}

// Profile returns the profile last applied (fs.ErrNotExist if none).
func (s Store) Profile(tenant string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.tenantDir(tenant), "profile.yaml"))
}

// SaveDatabase records db as the tenant's database. Apply records it
// before it creates the database, so that an apply that fails half-way
// leaves a database its tenant can still be applied to and removed with.
func (s Store) SaveDatabase(tenant, db string) error {
	return s.write(tenant, "database", []byte(db))
}

// Database returns the database last recorded as the tenant's
// (fs.ErrNotExist if none).
func (s Store) Database(tenant string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.tenantDir(tenant), "database"))
	return string(b), err
}

// Remove forgets the tenant.
func (s Store) Remove(tenant string) error {
	if err := os.RemoveAll(s.tenantDir(tenant)); err != nil {
		return fmt.Errorf("tenant %s: remove stored credentials: %w", tenant, err)
	}
	return nil
}

// Tenants lists the tenants the store knows, sorted.
func (s Store) Tenants() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list tenants in %s: %w", s.Dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && profile.CheckTenantID(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s Store) write(tenant, name string, data []byte) error {
	dir := s.tenantDir(tenant)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tenant %s: create %s: %w", tenant, dir, err)
	}
	if err := writeFile(filepath.Join(dir, name), data); err != nil {
		return fmt.Errorf("tenant %s: %w", tenant, err)
	}
	return nil
}

// writeFile writes a 0600 file through a rename, so that a reader never
// sees half of it.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // plain structs of strings always encode
	}
	return b
}

// newPassword is 32 hex characters of randomness: long enough for every part
// (MinIO wants 8 to 40 characters) and safe in URLs and config files.
func newPassword() (string, error) {
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	return hex.EncodeToString(buf), nil
}
