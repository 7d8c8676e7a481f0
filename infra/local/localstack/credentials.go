package localstack

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Credentials are the local stack's generated secrets. They are created on
// the first `up` and kept in the data folder, so restarts keep them and
// clients (the CLI, tests) can read them.
type Credentials struct {
	GatewayUser, GatewayPassword string
	MinIOUser, MinIOPassword     string
	// ConnectorS3Password is the connector's MinIO user's
	// (contract.ConnectorS3User), which may only list.
	ConnectorS3Password string
	// NATSPassword is the platform NATS user's (natsauth.PlatformUser).
	NATSPassword string
	// InvokeMasterKey is the platform's invocation master key: the
	// connector signs with keys derived from it, and each tenant
	// function gets its own derived key (see shared/invokesig).
	InvokeMasterKey string
}

// GatewaySecretsDir is where the gateway's basic-auth files are, in
// OpenFaaS's secret-file layout (basic-auth-user, basic-auth-password).
func GatewaySecretsDir(dataDir string) string {
	return filepath.Join(dataDir, "secrets", "gateway")
}

func natsSecretsDir(dataDir string) string {
	return filepath.Join(dataDir, "secrets", "nats")
}

// NATSPasswordFile holds the platform NATS user's password (mode 0600).
func NATSPasswordFile(dataDir string) string {
	return filepath.Join(natsSecretsDir(dataDir), "platform-password")
}

// natsUsersFile holds the tenants' NATS users (bcrypt hashes).
func natsUsersFile(dataDir string) string {
	return filepath.Join(natsSecretsDir(dataDir), "tenant-users.json")
}

// TenantsDir is where `tenant apply` keeps each tenant's generated
// credentials and last applied profile.
func TenantsDir(dataDir string) string { return filepath.Join(dataDir, "tenants") }

// MinIOSecretsDir holds MinIO's root credentials (root-user, root-password).
func MinIOSecretsDir(dataDir string) string { return minioSecretsDir(dataDir) }

// ConnectorS3PasswordFile holds the secret key of the connector's own
// MinIO user (contract.ConnectorS3User, mode 0600).
func ConnectorS3PasswordFile(dataDir string) string {
	return filepath.Join(minioSecretsDir(dataDir), "connector-password")
}

// MinIOPasswordFile holds MinIO's root password (mode 0600).
func MinIOPasswordFile(dataDir string) string {
	return filepath.Join(minioSecretsDir(dataDir), "root-password")
}

// InvokeMasterKeyFile holds the platform's invocation master key (mode
// 0600), contract.InvokeMasterKeySecret in a folder of its own.
func InvokeMasterKeyFile(dataDir string) string {
	return filepath.Join(dataDir, "secrets", "invoke", contract.InvokeMasterKeySecret)
}

// ReadInvokeMasterKey returns the local platform's invocation master key,
// or "" when dataDir has none (no local stack was ever started there).
func ReadInvokeMasterKey(dataDir string) (string, error) {
	b, err := os.ReadFile(InvokeMasterKeyFile(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the invocation master key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func minioSecretsDir(dataDir string) string {
	return filepath.Join(dataDir, "secrets", "minio")
}

// LoadOrCreateCredentials reads the stack's credentials from dataDir,
// generating any that are missing.
func LoadOrCreateCredentials(dataDir string) (Credentials, error) {
	var c Credentials
	for _, f := range []struct {
		dir, name, fixed string
		dst              *string
	}{
		{GatewaySecretsDir(dataDir), contract.SecretGatewayUser, "admin", &c.GatewayUser},
		{GatewaySecretsDir(dataDir), contract.SecretGatewayPassword, "", &c.GatewayPassword},
		{minioSecretsDir(dataDir), "root-user", "mysimbdp", &c.MinIOUser},
		{minioSecretsDir(dataDir), filepath.Base(MinIOPasswordFile(dataDir)), "", &c.MinIOPassword},
		{minioSecretsDir(dataDir), filepath.Base(ConnectorS3PasswordFile(dataDir)), "", &c.ConnectorS3Password},
		{filepath.Dir(NATSPasswordFile(dataDir)), filepath.Base(NATSPasswordFile(dataDir)), "", &c.NATSPassword},
		{filepath.Dir(InvokeMasterKeyFile(dataDir)), filepath.Base(InvokeMasterKeyFile(dataDir)), "", &c.InvokeMasterKey},
	} {
		v, err := readOrCreate(filepath.Join(f.dir, f.name), f.fixed)
		if err != nil {
			return c, fmt.Errorf("credentials: %w", err)
		}
		*f.dst = v
	}
	return c, nil
}

func readOrCreate(path, fixed string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	v := fixed
	if v == "" {
		buf := make([]byte, 16)
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate secret: %w", err)
		}
		v = hex.EncodeToString(buf)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return v, nil
}
