package provider

import (
	"net/http"

	"github.com/gorilla/mux"
)

// MakeReplicaReader returns one function's status (GET
// /system/function/{name}?namespace=).
func MakeReplicaReader(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := mux.Vars(r)["name"]
		ns := p.namespaceOf(r.URL.Query().Get("namespace"))
		fn := p.lookup(name, ns)
		if fn == nil {
			p.writeError(w, r, notFound(name, ns))
			return
		}
		writeJSON(w, http.StatusOK, fn.status())
	}
}
