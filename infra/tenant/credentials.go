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

	"github.com/mysimbdp/mysimbdp/infra/natsauth"
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
	// MongoUser and MongoPassword: a user limited to the tenant's database,
	// on a MongoDB that has users (FerretDB v1 has none).
	MongoUser     string `json:"mongo_user"`
	MongoPassword string `json:"mongo_password"`
}

// S3User is the MinIO user of a tenant.
func S3User(tenant string) string { return "tenant-" + tenant }

// S3Policy is the name of the MinIO policy of a tenant's user.
func S3Policy(tenant string) string { return "mysimbdp-tenant-" + tenant }

// MongoUser is the database user of a tenant, defined in its database.
func MongoUser(tenant string) string { return "tenant-" + tenant }

// Store keeps tenants' credentials and last applied profiles in a folder,
// one sub-folder per tenant:
//
//	<dir>/<tenant>/credentials.json   (mode 0600)
//	<dir>/<tenant>/profile.yaml       the profile last applied
type Store struct{ Dir string }

func (s Store) tenantDir(tenant string) string { return filepath.Join(s.Dir, tenant) }

// LoadOrCreate returns the tenant's credentials, generating and saving
// them if it has none; created says whether they are new.
func (s Store) LoadOrCreate(tenant string) (c Credentials, created bool, err error) {
	c, err = s.Load(tenant)
	if err == nil {
		return c, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return c, false, err
	}
	c = Credentials{Tenant: tenant, S3AccessKey: S3User(tenant), NATSUser: natsauth.TenantUser(tenant), MongoUser: MongoUser(tenant)}
	for _, p := range []*string{&c.S3SecretKey, &c.NATSPassword, &c.MongoPassword} {
		if *p, err = secret(); err != nil {
			return c, false, err
		}
	}
	if c.NATSPasswordHash, err = natsauth.Hash(c.NATSPassword); err != nil {
		return c, false, err
	}
	if err := s.write(tenant, "credentials.json", mustJSON(c)); err != nil {
		return c, false, err
	}
	return c, true, nil
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
		if e.IsDir() {
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
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("tenant %s: write %s: %w", tenant, path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tenant %s: write %s: %w", tenant, path, err)
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

// secret is 32 hex characters of randomness: long enough for every part
// (MinIO wants 8 to 40 characters) and safe in URLs and config files.
func secret() (string, error) {
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	return hex.EncodeToString(buf), nil
}
