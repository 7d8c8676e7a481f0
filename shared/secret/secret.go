// Package secret reads the OpenFaaS secrets given to a function: files in
// the folder contract.Env.SecretsDir names (/var/openfaas/secrets on
// OpenFaaS; the local provider gives each replica its own), among them the
// credentials secret that completes a function's environment (Getenv). It
// also keeps secrets out of logs (RedactURLs).
package secret

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/contract"
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

// FunctionEnv reads a function's settings (contract.FromEnv) from its
// environment completed by its credentials secret (Getenv). Every problem
// found is returned, for the caller to report with its own.
func FunctionEnv(getenv func(string) string) (contract.Env, []error) {
	getenv, credErr := Getenv(getenv)
	env, err := contract.FromEnv(getenv)
	return env, slices.DeleteFunc([]error{credErr, err}, func(e error) bool { return e == nil })
}

// Getenv returns getenv completed by the credentials secret that the
// variable contract.EnvCredentialsSecret names, if any: a function's
// credentials reach it as a secret file, not as environment variables
// (which the gateway's API shows). The secret holds NAME=value lines
// (blank lines and # comments skipped); a variable that is set wins. A
// secret that cannot be read or parsed is an error naming it and the
// line, never the value.
func Getenv(getenv func(string) string) (func(string) string, error) {
	name := getenv(contract.EnvCredentialsSecret)
	if name == "" {
		return getenv, nil
	}
	env, _ := contract.FromEnv(getenv) // its errors are the caller's to report
	raw, path, err := Read(env.SecretsDir, name)
	if err != nil {
		return getenv, fmt.Errorf("%s=%s: %w", contract.EnvCredentialsSecret, name, err)
	}
	vals, err := ParseEnv(raw)
	if err != nil {
		return getenv, fmt.Errorf("%s=%s: %s: %w", contract.EnvCredentialsSecret, name, path, err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vals[k]
	}, nil
}

// ParseEnv reads NAME=value lines, skipping blank lines and # comments.
func ParseEnv(raw []byte) (map[string]string, error) {
	vals := map[string]string{}
	n := 0
	for line := range strings.Lines(string(raw)) {
		n++
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: want NAME=value", n)
		}
		vals[k] = v
	}
	return vals, nil
}

// FormatEnv writes vals as NAME=value lines, sorted, for Getenv; a value
// may not hold a line break.
func FormatEnv(vals map[string]string) ([]byte, error) {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if strings.ContainsAny(vals[k], "\r\n") {
			return nil, fmt.Errorf("setting %s: its value holds a line break", k)
		}
		fmt.Fprintf(&b, "%s=%s\n", k, vals[k])
	}
	return []byte(b.String()), nil
}
