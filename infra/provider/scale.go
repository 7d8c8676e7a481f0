package provider

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// MakeReplicaUpdater sets a function's replica count (POST
// /system/scale-function/{name}). Scaling down takes replicas out of the
// balancer first and drains them in the background, so it answers at once.
func MakeReplicaUpdater(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := p.scaleFunction(w, r); err != nil {
			p.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (p *Provider) scaleFunction(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["name"]
	var req types.ScaleServiceRequest
	if err := decodeJSON(w, r, "scale request", &req); err != nil {
		return err
	}
	if req.ServiceName != "" && req.ServiceName != name {
		return badRequest("serviceName %q does not match the path's function %q", req.ServiceName, name)
	}
	ns := req.Namespace
	if ns == "" {
		ns = r.URL.Query().Get("namespace")
	}
	ns = p.namespaceOf(ns)
	fn := p.lookup(name, ns)
	if fn == nil {
		return notFound(name, ns)
	}
	spec, _, _ := fn.snapshot()
	_, hi, err := scaleBounds(spec.Labels)
	if err != nil {
		return err
	}
	if hi >= 0 && req.Replicas > uint64(hi) {
		return badRequest("function %s: %d replicas is above its label %s=%d", name, req.Replicas, contract.LabelScaleMax, hi)
	}
	if req.Replicas > uint64(p.cfg.MaxReplicas) {
		return badRequest("function %s: %d replicas is above the provider's limit of %d", name, req.Replicas, p.cfg.MaxReplicas)
	}
	fn.scale(int(req.Replicas))
	p.persistOrLog()
	p.log.Info("scaled function", "function", name, "namespace", ns, "replicas", req.Replicas)
	return nil
}
