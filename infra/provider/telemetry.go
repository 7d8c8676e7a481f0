package provider

import "net/http"

// Telemetry is the small summary GET /system/telemetry returns.
type Telemetry struct {
	Functions         int `json:"functions"`
	Replicas          int `json:"replicas"`
	AvailableReplicas int `json:"availableReplicas"`
	Namespaces        int `json:"namespaces"`
}

// MakeTelemetryHandler summarises what the provider runs.
func MakeTelemetryHandler(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.mu.RLock()
		t := Telemetry{Functions: len(p.functions), Namespaces: len(p.namespaces)}
		fns := make([]*function, 0, len(p.functions))
		for _, fn := range p.functions {
			fns = append(fns, fn)
		}
		p.mu.RUnlock()
		for _, fn := range fns {
			s := fn.status()
			t.Replicas += int(s.Replicas)
			t.AvailableReplicas += int(s.AvailableReplicas)
		}
		writeJSON(w, http.StatusOK, t)
	}
}
