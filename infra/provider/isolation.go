package provider

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// A tenant's function runs that tenant's code: on a real OpenFaaS it is a
// container that sees nothing of the platform. Locally a replica is a
// process, so when the provider runs as root each replica of a tenant
// function (label contract.LabelTenant) runs as an OS user of that
// tenant's own, taken from a configured range: it cannot read the
// provider's data folder (0700, root), other tenants' replicas or their
// secrets (0700 folders of their own users). Platform functions keep the
// provider's user. Without root there is no other user to switch to.
//
// A replica's folders then live under a run folder of their own outside
// the data folder (which a replica cannot traverse), and its executable is
// linked (or copied, across file systems) into its own folder, so that no
// folder on the way to the images folder has to be opened to others.

// Default range of the per-tenant OS user ids: far above the ids
// distributions hand out (useradd stops at 60000) and below the 2^31
// bound some tools assume.
const (
	defaultTenantUIDFirst = 200000
	defaultTenantUIDCount = 10000
)

// runAs is the OS identity a replica runs under; nil is the provider's.
type runAs struct{ uid, gid uint32 }

func (a *runAs) credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	// Empty Groups drops the provider's supplementary groups too.
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{}}
}

// chown gives path to the replica's user; a no-op for the provider's own.
func (a *runAs) chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("give %s to uid %d: %w", path, a.uid, err)
	}
	return nil
}

// isolating reports whether tenant replicas get users of their own.
func (p *Provider) isolating() bool { return p.runDir != "" }

// identityFor returns the identity spec's replicas run as: the tenant's
// own user when isolating and spec names a tenant, else nil. A tenant
// keeps its uid for the provider's lifetime and across restarts
// (state.json), so files it left behind never become another tenant's.
func (p *Provider) identityFor(spec types.FunctionDeployment) (*runAs, error) {
	if !p.isolating() || spec.Labels == nil {
		return nil, nil
	}
	tenant := (*spec.Labels)[contract.LabelTenant]
	if tenant == "" {
		return nil, nil
	}
	p.uidMu.Lock()
	defer p.uidMu.Unlock()
	uid, ok := p.tenantUIDs[tenant]
	if !ok {
		used := make(map[uint32]bool, len(p.tenantUIDs))
		for _, u := range p.tenantUIDs {
			used[u] = true
		}
		for i := range p.cfg.TenantUIDCount {
			if c := p.cfg.TenantUIDFirst + uint32(i); !used[c] {
				uid, ok = c, true
				break
			}
		}
		if !ok {
			return nil, fmt.Errorf("no OS user left for tenant %q: the %d uids from %d are all taken", tenant, p.cfg.TenantUIDCount, p.cfg.TenantUIDFirst)
		}
		p.tenantUIDs[tenant] = uid
	}
	return &runAs{uid: uid, gid: uid}, nil
}

// setupIsolation decides at start whether replicas are isolated and, if
// so, prepares the run folder: a fresh one per start (the previous run's
// is removed; its processes died with that provider, Pdeathsig).
func (p *Provider) setupIsolation() error {
	switch {
	case p.cfg.TenantUIDCount < 0:
		p.log.Warn("function replicas run as the provider's own OS user, as configured (TenantUIDCount < 0): a tenant's function can read whatever that user can, the data folder and every secret included")
		return nil
	case os.Geteuid() != 0:
		p.log.Warn("function replicas run as the provider's own OS user: only root can start a process as another user; a tenant's function can read whatever this user can, the data folder and every secret included (run the provider as root to give each tenant an OS user of its own)", "uid", os.Geteuid())
		return nil
	}
	marker := filepath.Join(p.cfg.DataDir, "run-dir")
	if b, err := os.ReadFile(marker); err == nil {
		// Only ever a folder this provider made, whatever the file says.
		if prev := string(b); filepath.IsAbs(prev) && strings.HasPrefix(filepath.Base(prev), "mysimbdp-replicas-") {
			if err := os.RemoveAll(prev); err != nil {
				p.log.Warn("remove the previous run's replica folder", "dir", prev, "err", err)
			}
		}
	}
	dir, err := os.MkdirTemp(p.cfg.RunDir, "mysimbdp-replicas-")
	if err != nil {
		return fmt.Errorf("create replica run folder: %w", err)
	}
	// Traversable, not listable: each replica reaches only its own
	// function's folder, which is 0700 and its user's.
	if err := os.Chmod(dir, 0o711); err != nil {
		return fmt.Errorf("create replica run folder: %w", err)
	}
	// Every folder above it must let others through, or no replica of a
	// tenant could reach its own folder.
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("check replica run folder: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			_ = os.Remove(dir)
			return fmt.Errorf("replica run folder %s: %s (mode %v) does not let other users through, so tenant replicas could not reach their folders; choose a RunDir under a folder open to others (like /tmp)", dir, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	if err := os.WriteFile(marker, []byte(dir), 0o600); err != nil {
		return fmt.Errorf("record replica run folder: %w", err)
	}
	p.runDir = dir
	p.log.Info("tenant function replicas run as OS users of their own", "uid_first", p.cfg.TenantUIDFirst, "uid_count", p.cfg.TenantUIDCount, "run_dir", dir)
	return nil
}

// replicaRoot is where the folders of a replica running as as live: the
// run folder for a tenant's own user, else DataDir/replicas as ever.
func (p *Provider) replicaRoot(as *runAs) string {
	if as != nil {
		return p.runDir
	}
	return filepath.Join(p.cfg.DataDir, "replicas")
}

// prepareFunctionDir makes <root>/<namespace>/<function>: the namespace
// folder traversable by all (0711), the function's own folder 0700 and
// owned by the replica's user.
func (r *replica) prepareFunctionDir() error {
	nsDir := filepath.Dir(filepath.Dir(r.dir))
	if err := os.MkdirAll(nsDir, 0o711); err != nil {
		return fmt.Errorf("prepare replica folder: %w", err)
	}
	fnDir := filepath.Dir(r.dir)
	if err := os.Mkdir(fnDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("prepare replica folder: %w", err)
	}
	if err := r.as.chown(fnDir); err != nil {
		return err
	}
	if err := os.Mkdir(r.dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("prepare replica folder: %w", err)
	}
	return r.as.chown(r.dir)
}

// stageExecutable puts the replica's executable in its own folder (a hard
// link, or a copy across file systems) and returns its path.
func (r *replica) stageExecutable() (string, error) {
	dst := filepath.Join(r.dir, "function")
	_ = os.Remove(dst)
	if err := os.Link(r.exe, dst); err == nil {
		return dst, nil
	}
	src, err := os.Open(r.exe)
	if err != nil {
		return "", fmt.Errorf("stage executable %s: %w", r.exe, err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return "", fmt.Errorf("stage executable %s: %w", r.exe, err)
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return "", fmt.Errorf("stage executable %s: %w", r.exe, err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("stage executable %s: %w", r.exe, err)
	}
	return dst, nil
}
