package provider

import (
	"net/http"

	"github.com/openfaas/faas-provider/types"
)

// MakeDeleteHandler removes a function (DELETE /system/functions): it
// leaves the API at once and its replicas drain and stop in the background.
func MakeDeleteHandler(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := p.deleteFunction(w, r); err != nil {
			p.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (p *Provider) deleteFunction(w http.ResponseWriter, r *http.Request) error {
	var req types.DeleteFunctionRequest
	if err := decodeJSON(w, r, "delete request", &req); err != nil {
		return err
	}
	if req.FunctionName == "" {
		return badRequest("functionName is required")
	}
	ns := p.namespaceOf(req.Namespace)
	key := fnKey{req.FunctionName, ns}
	p.mu.Lock()
	fn, ok := p.functions[key]
	delete(p.functions, key)
	p.mu.Unlock()
	if !ok {
		return notFound(req.FunctionName, ns)
	}
	victims := fn.removeAll()
	fn.logs.close()
	p.metrics.forget(fn.metricName)
	p.drainAsync(victims, drainBounded)
	p.persistOrLog()
	p.log.Info("deleted function", "function", req.FunctionName, "namespace", ns, "replicas", len(victims))
	return nil
}
