package provider

import (
	"net/http"

	"github.com/openfaas/faas-provider/types"
)

// MakeInfoHandler describes the provider (GET /system/info).
func MakeInfoHandler(p *Provider) http.HandlerFunc {
	info := types.ProviderInfo{
		Name:          ProviderName,
		Orchestration: Orchestration,
		Version:       &types.VersionInfo{Release: p.cfg.Version, SHA: p.cfg.SHA},
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, info)
	}
}
