package provider

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/types"
)

// nameExpression is faas-provider's bootstrap.NameExpression: what the
// routes accept as a function name (validation is the handlers' job).
const nameExpression = "-a-zA-Z_0-9."

// handlers returns the provider's FaaSHandlers, every field set.
func (p *Provider) handlers() types.FaaSHandlers {
	return types.FaaSHandlers{
		ListNamespaces:  MakeNamespacesLister(p),
		MutateNamespace: MakeMutateNamespace(p),
		FunctionProxy:   MakeProxyHandler(p),
		FunctionLister:  MakeFunctionReader(p),
		DeployFunction:  MakeDeployHandler(p),
		UpdateFunction:  MakeUpdateHandler(p),
		DeleteFunction:  MakeDeleteHandler(p),
		FunctionStatus:  MakeReplicaReader(p),
		ScaleFunction:   MakeReplicaUpdater(p),
		Secrets:         MakeSecretHandler(p),
		Logs:            MakeLogsHandler(p),
		Health:          MakeHealthHandler(),
		Info:            MakeInfoHandler(p),
		Telemetry:       MakeTelemetryHandler(p),
	}
}

// router mirrors faas-provider's bootstrap.Serve route for route, on a
// router of its own (Serve's is package-global) and with basic auth on
// every /system route, namespaces and telemetry included.
func (p *Provider) router() http.Handler {
	h := p.handlers()
	a := func(next http.HandlerFunc) http.HandlerFunc { return auth.DecorateWithBasicAuth(next, p.creds) }
	hm := p.metrics
	sys := func(next http.HandlerFunc, path string) http.HandlerFunc { return hm.instrument(a(next), path) }

	r := mux.NewRouter()
	r.HandleFunc("/system/functions", sys(h.FunctionLister, "")).Methods(http.MethodGet)
	r.HandleFunc("/system/functions", sys(h.DeployFunction, "")).Methods(http.MethodPost)
	r.HandleFunc("/system/functions", sys(h.DeleteFunction, "")).Methods(http.MethodDelete)
	r.HandleFunc("/system/functions", sys(h.UpdateFunction, "")).Methods(http.MethodPut)

	r.HandleFunc("/system/function/{name:["+nameExpression+"]+}",
		sys(h.FunctionStatus, "/system/function")).Methods(http.MethodGet)
	r.HandleFunc("/system/scale-function/{name:["+nameExpression+"]+}",
		sys(h.ScaleFunction, "/system/scale-function")).Methods(http.MethodPost)

	r.HandleFunc("/system/info", sys(h.Info, "")).Methods(http.MethodGet)
	r.HandleFunc("/system/secrets", sys(h.Secrets, "")).
		Methods(http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete)
	r.HandleFunc("/system/logs", sys(h.Logs, "")).Methods(http.MethodGet)

	r.HandleFunc("/system/namespaces", sys(h.ListNamespaces, "")).Methods(http.MethodGet)
	r.HandleFunc("/system/namespace/{name:["+nameExpression+"]*}", sys(h.MutateNamespace, "/system/namespace")).
		Methods(http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodGet)

	// Open endpoints, as on OpenFaaS: invocations are the functions' own
	// business.
	r.HandleFunc("/function/{name:["+nameExpression+"]+}", h.FunctionProxy)
	r.HandleFunc("/function/{name:["+nameExpression+"]+}/", h.FunctionProxy)
	r.HandleFunc("/function/{name:["+nameExpression+"]+}/{params:.*}", h.FunctionProxy)

	// Asynchronous invocations, open like the synchronous ones (as on
	// OpenFaaS): stored for the connector, answered 202 at once.
	async := MakeAsyncHandler(p)
	r.HandleFunc("/async-function/{name:["+nameExpression+"]+}", async).Methods(http.MethodPost)
	r.HandleFunc("/async-function/{name:["+nameExpression+"]+}/", async).Methods(http.MethodPost)
	r.HandleFunc("/async-function/{name:["+nameExpression+"]+}/{params:.*}", async).Methods(http.MethodPost)

	r.HandleFunc("/healthz", h.Health).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/system/telemetry", sys(h.Telemetry, "")).Methods(http.MethodGet)
	r.HandleFunc("/metrics", MakeMetricsHandler(p))

	// The operator's dashboard, behind the gateway's credentials like
	// /system.
	if p.cfg.Console != nil {
		r.PathPrefix("/ui/").Handler(sys(p.cfg.Console.ServeHTTP, "/ui/"))
		r.Handle("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	}
	return invocations{p: p, rest: r}
}

// invocations sends /function/{name}[/...] straight to the proxy and
// everything else to the router: the invocation path is the hot one, and
// matching it there meant trying a dozen /system routes' patterns first.
type invocations struct {
	p    *Provider
	rest http.Handler
}

func (h invocations) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if nameVar, ok := invocationName(r.URL.Path); ok {
		h.p.proxy(w, r, nameVar)
		return
	}
	h.rest.ServeHTTP(w, r)
}

// invocationName reads {name} of /function/{name}[/...] when the router
// would route the path as it is: a name of nameExpression's characters,
// and a clean path (with "//", "/./" or "/../" the router redirects to
// the cleaned path, so those go to it).
func invocationName(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/function/")
	if !ok || strings.Contains(path, "//") || strings.Contains(path, "/.") {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	if name == "" {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return "", false
		}
	}
	return name, true
}
