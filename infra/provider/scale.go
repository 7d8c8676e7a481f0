package provider

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// MakeReplicaUpdater sets a function's replica count (POST
// /system/scale-function/{name}). Scaling down takes idle replicas before
// busy ones out of the balancer and drains them in the background, so it
// answers at once. A busy replica taken out keeps its requests until they
// finish, however long; with ?force-stop=true (contract.QueryScaleForceStop)
// it (and any an earlier scale-down left waiting) is stopped once
// DrainTimeout has passed and its requests are answered
// 503 from the provider (contract.HeaderOrigin) for the caller to retry.
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
	mode := drainUntilIdle
	if v := r.URL.Query().Get(contract.QueryScaleForceStop); v != "" {
		force, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("%s=%q: want true or false", contract.QueryScaleForceStop, v)
		}
		if force {
			mode = drainBounded
		}
	}
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
	fn.scale(int(req.Replicas), mode)
	p.persistOrLog()
	p.log.Info("scaled function", "function", name, "namespace", ns, "replicas", req.Replicas, "force_stop", mode == drainBounded)
	return nil
}
