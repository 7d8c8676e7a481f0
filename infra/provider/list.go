package provider

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/openfaas/faas-provider/types"
)

// MakeFunctionReader lists a namespace's functions (GET
// /system/functions?namespace=) with replica counts that are true now:
// availableReplicas counts replicas that passed /_/ready.
func MakeFunctionReader(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ns := p.namespaceOf(r.URL.Query().Get("namespace"))
		if !p.namespaceExists(ns) {
			p.writeError(w, r, badRequest("namespace %q does not exist", ns))
			return
		}
		p.mu.RLock()
		var fns []*function
		for k, fn := range p.functions {
			if k.namespace == ns {
				fns = append(fns, fn)
			}
		}
		p.mu.RUnlock()
		out := make([]types.FunctionStatus, 0, len(fns))
		for _, fn := range fns {
			out = append(out, fn.status())
		}
		slices.SortFunc(out, func(a, b types.FunctionStatus) int { return cmp.Compare(a.Name, b.Name) })
		writeJSON(w, http.StatusOK, out)
	}
}
