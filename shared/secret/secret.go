// Package secret finds the OpenFaaS secrets given to a function: files in
// /var/openfaas/secrets on OpenFaaS, and in the folder MYSIMBDP_SECRETS_DIR
// names under the local provider (each replica has its own).
package secret

import (
	"fmt"
	"os"
	"path/filepath"
)

// DefaultDir is where OpenFaaS mounts a function's secrets.
const DefaultDir = "/var/openfaas/secrets"

// Dir is the folder of the function's secrets, read through getenv.
func Dir(getenv func(string) string) string {
	if d := getenv("MYSIMBDP_SECRETS_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// Read returns secret name's value and the file it was read from.
func Read(getenv func(string) string, name string) ([]byte, string, error) {
	path := filepath.Join(Dir(getenv), name)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, path, fmt.Errorf("read secret %q: %w", name, err)
	}
	return b, path, nil
}
