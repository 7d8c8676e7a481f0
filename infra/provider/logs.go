package provider

import (
	"net/http"

	"github.com/openfaas/faas-provider/logs"
)

// MakeLogsHandler serves GET /system/logs with faas-provider's log handler
// over the per-function rings (NDJSON of logs.Message; tail, since,
// instance and follow supported). faas-provider answers 500 for any
// Requester error, so an unknown function is turned into a 404 first.
func MakeLogsHandler(p *Provider) http.HandlerFunc {
	inner := logs.NewLogHandlerFunc(logRequester{p}, p.cfg.LogsTimeout)
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name, ns := q.Get("name"), p.namespaceOf(q.Get("namespace"))
		if name == "" {
			p.writeError(w, r, badRequest("query parameter name is required"))
			return
		}
		if p.lookup(name, ns) == nil {
			p.writeError(w, r, notFound(name, ns))
			return
		}
		inner(w, r)
	}
}
