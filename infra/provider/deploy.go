package provider

import (
	"net/http"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// MakeDeployHandler creates a function (POST /system/functions) and starts
// its com.openfaas.scale.min replicas (default 1, 0 allowed).
func MakeDeployHandler(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := p.deploy(w, r); err != nil {
			p.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (p *Provider) deploy(w http.ResponseWriter, r *http.Request) error {
	var spec types.FunctionDeployment
	if err := decodeJSON(w, r, "function deployment", &spec); err != nil {
		return err
	}
	spec.Namespace = p.namespaceOf(spec.Namespace)
	exe, err := p.validateSpec(&spec)
	if err != nil {
		return err
	}
	lo, _, _ := scaleBounds(spec.Labels)
	if lo > p.cfg.MaxReplicas {
		return badRequest("label %s=%d is above the provider's limit of %d replicas", contract.LabelScaleMin, lo, p.cfg.MaxReplicas)
	}

	p.mu.Lock()
	// Checked under the lock that Close and namespace deletion take, so
	// neither can miss the new function.
	if p.closed.Load() {
		p.mu.Unlock()
		return statusError(http.StatusServiceUnavailable, "provider is shutting down")
	}
	if _, ok := p.namespaces[spec.Namespace]; !ok {
		p.mu.Unlock()
		return badRequest("namespace %q does not exist", spec.Namespace)
	}
	key := fnKey{spec.Service, spec.Namespace}
	if _, ok := p.functions[key]; ok {
		p.mu.Unlock()
		return statusError(http.StatusConflict, "function %s already exists in namespace %s; update it with PUT /system/functions", spec.Service, spec.Namespace)
	}
	fn := p.newFunction(spec, exe, time.Now().UTC())
	p.functions[key] = fn
	p.mu.Unlock()

	fn.scale(lo, drainUntilIdle)
	p.persistOrLog()
	p.log.Info("deployed function", "function", spec.Service, "namespace", spec.Namespace, "image", spec.Image, "replicas", lo)
	return nil
}
