package provider

import "net/http"

// MakeHealthHandler answers the provider's liveness probe (GET /healthz).
func MakeHealthHandler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("OK"))
	}
}
