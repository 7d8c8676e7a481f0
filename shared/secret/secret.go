// Package secret reads the OpenFaaS secrets given to a function: files in
// the folder contract.Env.SecretsDir names (/var/openfaas/secrets on
// OpenFaaS; the local provider gives each replica its own). It also keeps
// secrets out of logs (RedactURLs).
package secret

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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

// RedactURLs returns a URL, or a comma-separated list of them (as NATS
// takes), with every password replaced by "xxxxx", for logs and messages.
// Text that is no URL is returned as it is.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
