package provider

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/openfaas/faas-provider/types"
)

// secretName is a DNS-1123 subdomain, the Kubernetes rule OpenFaaS
// inherits; it also keeps the name a plain file name.
var secretName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// MakeSecretHandler lists (GET), creates (POST), updates (PUT) and deletes
// (DELETE) secrets on /system/secrets. Values are files with mode 0600
// under DataDir/secrets/<namespace>/; a listing returns names only.
func MakeSecretHandler(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch r.Method {
		case http.MethodGet:
			err = p.listSecrets(w, r)
		case http.MethodPost, http.MethodPut, http.MethodDelete:
			err = p.mutateSecret(w, r)
		default:
			err = statusError(http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		}
		if err != nil {
			p.writeError(w, r, err)
		}
	}
}

func (p *Provider) listSecrets(w http.ResponseWriter, r *http.Request) error {
	ns := p.namespaceOf(r.URL.Query().Get("namespace"))
	if !p.namespaceExists(ns) {
		return badRequest("namespace %q does not exist", ns)
	}
	entries, err := os.ReadDir(filepath.Join(p.cfg.DataDir, "secrets", ns))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list secrets of namespace %s: %w", ns, err)
	}
	out := make([]types.Secret, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() && secretName.MatchString(e.Name()) {
			out = append(out, types.Secret{Name: e.Name(), Namespace: ns})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (p *Provider) mutateSecret(w http.ResponseWriter, r *http.Request) error {
	var s types.Secret
	if err := decodeJSON(w, r, "secret", &s); err != nil {
		return err
	}
	if s.Name == "" || len(s.Name) > 253 || !secretName.MatchString(s.Name) {
		return badRequest("secret name %q is invalid: it must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)", s.Name)
	}
	ns := p.namespaceOf(s.Namespace)
	if !p.namespaceExists(ns) {
		return badRequest("namespace %q does not exist", ns)
	}
	value := s.RawValue
	if len(value) == 0 {
		value = []byte(s.Value)
	}
	path := p.secretPath(ns, s.Name)

	p.secretsMu.Lock()
	defer p.secretsMu.Unlock()
	_, statErr := os.Stat(path)
	exists := statErr == nil
	switch r.Method {
	case http.MethodPost:
		if exists {
			return statusError(http.StatusConflict, "secret %s already exists in namespace %s; update it with PUT", s.Name, ns)
		}
		if err := writeSecret(path, value); err != nil {
			return fmt.Errorf("write secret %s: %w", s.Name, err)
		}
		w.WriteHeader(http.StatusCreated)
	case http.MethodPut:
		if !exists {
			return statusError(http.StatusNotFound, "secret %s not found in namespace %s", s.Name, ns)
		}
		if err := writeSecret(path, value); err != nil {
			return fmt.Errorf("write secret %s: %w", s.Name, err)
		}
		w.WriteHeader(http.StatusAccepted)
	case http.MethodDelete:
		if !exists {
			return statusError(http.StatusNotFound, "secret %s not found in namespace %s", s.Name, ns)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("delete secret %s: %w", s.Name, err)
		}
		w.WriteHeader(http.StatusAccepted)
	}
	p.log.Info("secret changed", "secret", s.Name, "namespace", ns, "method", r.Method)
	return nil
}

// writeSecret writes through a 0600 temporary file and a rename, so a
// replica never copies a half-written value.
func writeSecret(path string, value []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(value); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
