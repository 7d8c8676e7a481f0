package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/openfaas/faas-provider/types"
)

// state is what state.json holds: enough to re-create every function and
// namespace after a restart.
type state struct {
	Namespaces []types.FunctionNamespace `json:"namespaces"`
	Functions  []persistedFunction       `json:"functions"`
	// TenantUIDs keeps each tenant's OS user id across restarts.
	TenantUIDs map[string]uint32 `json:"tenantUids,omitempty"`
}

type persistedFunction struct {
	Spec      types.FunctionDeployment `json:"spec"`
	CreatedAt time.Time                `json:"createdAt"`
	Replicas  int                      `json:"replicas"`
}

func (p *Provider) statePath() string { return filepath.Join(p.cfg.DataDir, "state.json") }

func (p *Provider) loadState() (state, error) {
	var st state
	b, err := os.ReadFile(p.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read provider state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode provider state %s: %w", p.statePath(), err)
	}
	return st, nil
}

// persist writes the current state. The snapshot is taken under persistMu,
// so whichever write lands last holds the latest state.
func (p *Provider) persist() error {
	p.persistMu.Lock()
	defer p.persistMu.Unlock()

	var st state
	p.mu.RLock()
	for _, ns := range p.namespaces {
		if ns.Name != p.cfg.DefaultNamespace {
			st.Namespaces = append(st.Namespaces, ns)
		}
	}
	p.uidMu.Lock()
	if len(p.tenantUIDs) > 0 {
		st.TenantUIDs = maps.Clone(p.tenantUIDs)
	}
	p.uidMu.Unlock()
	for _, fn := range p.functions {
		spec, created, desired := fn.snapshot()
		st.Functions = append(st.Functions, persistedFunction{Spec: spec, CreatedAt: created, Replicas: desired})
	}
	p.mu.RUnlock()
	sort.Slice(st.Namespaces, func(i, j int) bool { return st.Namespaces[i].Name < st.Namespaces[j].Name })
	sort.Slice(st.Functions, func(i, j int) bool {
		a, b := st.Functions[i].Spec, st.Functions[j].Spec
		return a.Namespace+"/"+a.Service < b.Namespace+"/"+b.Service
	})

	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode provider state: %w", err)
	}
	// Write-then-rename so a crash never leaves a half-written state file.
	tmp := p.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write provider state: %w", err)
	}
	if err := os.Rename(tmp, p.statePath()); err != nil {
		return fmt.Errorf("replace provider state: %w", err)
	}
	return nil
}

// persistOrLog is for mutations that already happened in memory: failing
// to save them is worth an error log, not a failed request.
func (p *Provider) persistOrLog() {
	if err := p.persist(); err != nil {
		p.log.Error("persist provider state", "err", err)
	}
}
