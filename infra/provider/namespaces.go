package provider

import (
	"cmp"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/gorilla/mux"
	"github.com/openfaas/faas-provider/types"
)

// MakeNamespacesLister lists namespace names (GET /system/namespaces), the
// default namespace first.
func MakeNamespacesLister(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.mu.RLock()
		names := slices.Collect(maps.Keys(p.namespaces))
		p.mu.RUnlock()
		def := p.cfg.DefaultNamespace
		slices.SortFunc(names, func(a, b string) int {
			switch {
			case a == def:
				return -1
			case b == def:
				return 1
			}
			return cmp.Compare(a, b)
		})
		writeJSON(w, http.StatusOK, names)
	}
}

// MakeMutateNamespace reads (GET), creates (POST), updates (PUT) and
// deletes (DELETE) /system/namespace/{name}. As on OpenFaaS, a namespace
// is one for functions only when it carries openfaas=1 as a label or an
// annotation; a namespace that still has functions cannot be deleted.
func MakeMutateNamespace(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := p.mutateNamespace(w, r); err != nil {
			p.writeError(w, r, err)
		}
	}
}

func (p *Provider) mutateNamespace(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["name"]
	if err := validName("namespace", name); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		p.mu.RLock()
		ns, ok := p.namespaces[name]
		p.mu.RUnlock()
		if !ok {
			return statusError(http.StatusNotFound, "namespace %s not found", name)
		}
		writeJSON(w, http.StatusOK, ns)
		return nil
	case http.MethodDelete:
		return p.deleteNamespace(w, name)
	}

	var ns types.FunctionNamespace
	if err := decodeJSON(w, r, "namespace", &ns); err != nil {
		return err
	}
	if ns.Name != "" && ns.Name != name {
		return badRequest("namespace name %q in the body does not match %q in the path", ns.Name, name)
	}
	ns.Name = name
	if ns.Labels["openfaas"] != "1" && ns.Annotations["openfaas"] != "1" {
		return badRequest("namespace %s must carry the label or annotation \"openfaas\": \"1\"", name)
	}
	p.mu.Lock()
	_, exists := p.namespaces[name]
	switch {
	case r.Method == http.MethodPost && exists:
		p.mu.Unlock()
		return statusError(http.StatusConflict, "namespace %s already exists", name)
	case r.Method == http.MethodPut && !exists:
		p.mu.Unlock()
		return statusError(http.StatusNotFound, "namespace %s not found", name)
	}
	p.namespaces[name] = ns
	p.mu.Unlock()
	p.persistOrLog()
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusCreated)
	} else {
		w.WriteHeader(http.StatusAccepted)
	}
	p.log.Info("namespace changed", "namespace", name, "method", r.Method)
	return nil
}

func (p *Provider) deleteNamespace(w http.ResponseWriter, name string) error {
	if name == p.cfg.DefaultNamespace {
		return badRequest("namespace %s is the default namespace and cannot be deleted", name)
	}
	p.mu.Lock()
	if _, ok := p.namespaces[name]; !ok {
		p.mu.Unlock()
		return statusError(http.StatusNotFound, "namespace %s not found", name)
	}
	n := 0
	for k := range p.functions {
		if k.namespace == name {
			n++
		}
	}
	if n > 0 {
		p.mu.Unlock()
		return badRequest("namespace %s still has %d function(s); delete them first", name, n)
	}
	delete(p.namespaces, name)
	p.mu.Unlock()
	// Its secrets go with it, as in Kubernetes.
	if err := os.RemoveAll(filepath.Join(p.cfg.DataDir, "secrets", name)); err != nil {
		p.log.Warn("remove secrets of deleted namespace", "namespace", name, "err", err)
	}
	p.persistOrLog()
	w.WriteHeader(http.StatusAccepted)
	return nil
}
