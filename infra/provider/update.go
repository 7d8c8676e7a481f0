package provider

import (
	"net/http"

	"github.com/openfaas/faas-provider/types"
)

// MakeUpdateHandler replaces a function's spec (PUT /system/functions) and
// rolls its replicas, keeping their count. An unknown function is a 404,
// which is what makes faas-cli fall back to POST.
func MakeUpdateHandler(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := p.update(w, r); err != nil {
			p.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (p *Provider) update(w http.ResponseWriter, r *http.Request) error {
	var spec types.FunctionDeployment
	if err := decodeJSON(w, r, "function deployment", &spec); err != nil {
		return err
	}
	spec.Namespace = p.namespaceOf(spec.Namespace)
	if err := validName("function", spec.Service); err != nil {
		return err
	}
	fn := p.lookup(spec.Service, spec.Namespace)
	if fn == nil {
		return notFound(spec.Service, spec.Namespace)
	}
	exe, err := p.validateSpec(&spec)
	if err != nil {
		return err
	}
	fn.update(spec, exe)
	p.persistOrLog()
	p.log.Info("updated function", "function", spec.Service, "namespace", spec.Namespace, "image", spec.Image)
	return nil
}
