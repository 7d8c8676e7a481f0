// Package secret reads the OpenFaaS secrets given to a function: files in
// the folder contract.Env.SecretsDir names (/var/openfaas/secrets on
// OpenFaaS; the local provider gives each replica its own).
package secret

import (
	"fmt"
	"os"
	"path/filepath"
)

// Read returns secret name's value in folder dir and the file it was read
// from.
func Read(dir, name string) ([]byte, string, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, path, fmt.Errorf("read secret %q: %w", name, err)
	}
	return b, path, nil
}
