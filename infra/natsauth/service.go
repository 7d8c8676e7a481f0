package natsauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// ErrNoService means no mysimbdp NATS user service answered: the NATS
// server is not the local stack's embedded one, and its users are the
// operator's to configure (see ConfigSnippet).
var ErrNoService = errors.New("no mysimbdp NATS user service answered (a NATS server not run by `mysimbdp up`)")

// request and reply are the control protocol's JSON bodies.
type request struct {
	Op     string `json:"op"` // put, delete or list
	Tenant string `json:"tenant,omitempty"`
	Hash   string `json:"hash,omitempty"`           // the tenant's clients'
	FnHash string `json:"functions_hash,omitempty"` // the tenant's functions'
}

type reply struct {
	Error   string            `json:"error,omitempty"`
	Changed bool              `json:"changed,omitempty"`
	Tenants map[string]string `json:"tenants,omitempty"` // tenant -> user, for list
}

// Apply puts accounts and users on a running server (natsd.Server.SetAuth).
type Apply func([]*server.Account, []*server.User) error

// Service keeps the tenants' users of the embedded server in a file of
// bcrypt hashes, so a restarted stack accepts them again, and applies
// every change to the running server as accounts (Config).
type Service struct {
	path             string
	platformPassword string // bcrypt hash
	apply            Apply
	log              *slog.Logger

	mu     sync.Mutex
	hashes map[string]Tenant
}

// NewService reads the tenants' users from path (none if the file does
// not exist yet). Changes are applied with the function SetApply sets.
func NewService(path, platformPassword string, log *slog.Logger) (*Service, error) {
	// The server holds no password in clear; the platform's hash is cheap
	// (bcrypt's lowest cost) because every platform connection checks it,
	// and its password is random and long.
	ph, err := bcrypt.GenerateFromPassword([]byte(platformPassword), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("hash NATS platform password: %w", err)
	}
	s := &Service{path: path, platformPassword: string(ph), log: log, hashes: map[string]Tenant{}}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read NATS users: %w", err)
	default:
		if err := json.Unmarshal(raw, &s.hashes); err != nil {
			return nil, fmt.Errorf("read NATS users %s: %w", path, err)
		}
	}
	return s, nil
}

// SetApply sets where changes go: the running server.
func (s *Service) SetApply(apply Apply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply = apply
}

// Auth is the server's accounts and users: the platform's and every
// tenant's.
func (s *Service) Auth() ([]*server.Account, []*server.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Parse(Config(s.platformPassword, s.hashes))
}

// Serve answers control requests on nc until nc is closed.
func (s *Service) Serve(nc *nats.Conn) error {
	sub, err := nc.Subscribe(contract.NATSUsersControlSubject, func(m *nats.Msg) {
		var req request
		var rep reply
		if err := json.Unmarshal(m.Data, &req); err != nil {
			rep.Error = "bad request: " + err.Error()
		} else {
			rep = s.handle(req)
		}
		body, _ := json.Marshal(rep)
		if err := m.Respond(body); err != nil {
			s.log.Warn("answer NATS user request", "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("serve NATS users on %s: %w", contract.NATSUsersControlSubject, err)
	}
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("serve NATS users: %w", err)
	}
	return nil
}

func (s *Service) handle(req request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.Op {
	case "list":
		out := map[string]string{}
		for t := range s.hashes {
			out[t] = TenantUser(t)
		}
		return reply{Tenants: out}
	case "put", "delete":
	default:
		return reply{Error: fmt.Sprintf("unknown op %q", req.Op)}
	}
	if req.Tenant == "" {
		return reply{Error: "no tenant"}
	}
	next := make(map[string]Tenant, len(s.hashes)+1)
	for t, h := range s.hashes {
		next[t] = h
	}
	if req.Op == "put" {
		if req.Hash == "" {
			return reply{Error: "no password hash"}
		}
		h := Tenant{Client: req.Hash, Functions: req.FnHash}
		if next[req.Tenant] == h {
			return reply{}
		}
		next[req.Tenant] = h
	} else {
		if _, ok := next[req.Tenant]; !ok {
			return reply{}
		}
		delete(next, req.Tenant)
	}
	// The file first: a change the server has but the file lacks would be
	// lost on restart, whereas the other way round the next start applies it.
	if err := writeJSON(s.path, next); err != nil {
		return reply{Error: err.Error()}
	}
	if s.apply != nil {
		accounts, users, err := Parse(Config(s.platformPassword, next))
		if err == nil {
			err = s.apply(accounts, users)
		}
		if err != nil {
			_ = writeJSON(s.path, s.hashes)
			return reply{Error: err.Error()}
		}
	}
	s.hashes = next
	s.log.Info("NATS tenant user "+map[string]string{"put": "set", "delete": "removed"}[req.Op], "tenant", req.Tenant)
	return reply{Changed: true}
}

func writeJSON(path string, v map[string]Tenant) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write NATS users: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("write NATS users: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write NATS users: %w", err)
	}
	return nil
}

// Put asks the running stack to give tenant its account with its users'
// passwords whose bcrypt hashes are given. changed is false if it already
// had them.
func Put(ctx context.Context, nc *nats.Conn, tenant string, h Tenant) (changed bool, err error) {
	rep, err := call(ctx, nc, request{Op: "put", Tenant: tenant, Hash: h.Client, FnHash: h.Functions})
	return rep.Changed, err
}

// Delete asks the running stack to drop tenant's account and users; their
// connections are closed. changed is false if there was none.
func Delete(ctx context.Context, nc *nats.Conn, tenant string) (changed bool, err error) {
	rep, err := call(ctx, nc, request{Op: "delete", Tenant: tenant})
	return rep.Changed, err
}

// List returns the tenants that have a user, sorted.
func List(ctx context.Context, nc *nats.Conn) ([]string, error) {
	rep, err := call(ctx, nc, request{Op: "list"})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rep.Tenants))
	for t := range rep.Tenants {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

func call(ctx context.Context, nc *nats.Conn, req request) (reply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	m, err := nc.RequestWithContext(ctx, contract.NATSUsersControlSubject, body)
	if errors.Is(err, nats.ErrNoResponders) {
		return reply{}, ErrNoService
	}
	if err != nil {
		return reply{}, fmt.Errorf("NATS user service %s %s: %w", req.Op, req.Tenant, err)
	}
	var rep reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return reply{}, fmt.Errorf("NATS user service answer: %w", err)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("NATS user service %s %s: %s", req.Op, req.Tenant, rep.Error)
	}
	return rep, nil
}
