package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
	"github.com/mysimbdp/mysimbdp/infra/local/supervise"
	"github.com/mysimbdp/mysimbdp/infra/minioadmin"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Names of the parts in <data>/status.json and `mysimbdp status`.
const (
	PartMinIO     = "minio"
	PartConnector = "connector"
)

// PartsStatus is <data>/status.json: what a running stack knows of the
// parts it runs itself (the supervised MinIO server, the in-process
// connector), for `mysimbdp status`. It is rewritten on every change and
// removed by Stop; it holds no secret. A file rather than an endpoint so
// that it can be read while the gateway is the part that is down.
type PartsStatus struct {
	// Pid is the stack's process (`mysimbdp up`); a file whose process is
	// gone is stale.
	Pid       int                `json:"pid"`
	UpdatedAt time.Time          `json:"updated_at"`
	Parts     []supervise.Status `json:"parts"`
}

func statusFile(dataDir string) string { return filepath.Join(dataDir, "status.json") }

// ReadPartsStatus returns what the stack running on dataDir last wrote.
func ReadPartsStatus(dataDir string) (PartsStatus, error) {
	var ps PartsStatus
	raw, err := os.ReadFile(statusFile(dataDir))
	if err != nil {
		return ps, fmt.Errorf("no status of a running stack on %s: %w", dataDir, err)
	}
	if err := json.Unmarshal(raw, &ps); err != nil {
		return ps, fmt.Errorf("read %s: %w", statusFile(dataDir), err)
	}
	return ps, nil
}

// startMinIO starts the MinIO server under a supervisor, which starts it
// again on the same addresses, data folder and event queue whenever it
// exits unasked.
func (s *Stack) startMinIO(ctx context.Context, cfg minioserver.Config) error {
	log := s.log.With("part", PartMinIO)
	s.bgCtx, s.stopBg = context.WithCancel(context.WithoutCancel(ctx))
	sup, err := supervise.Start(ctx, supervise.Config{
		Part: PartMinIO,
		Start: func(ctx context.Context) (supervise.Process, error) {
			srv, err := minioserver.Start(ctx, cfg, log)
			if err != nil {
				return nil, err
			}
			// Later runs listen where the first one got its ports:
			// functions and clients were given that address.
			cfg.Address, cfg.ConsoleAddress = srv.ListenAddress(), srv.ConsoleListenAddress()
			return srv, nil
		},
		OnChange: s.onMinIOChange,
	}, s.log)
	if err != nil {
		return err
	}
	s.minioSup = sup
	srv := sup.Process().(*minioserver.Server)
	s.Endpoints.MinIO = srv.Endpoint()
	s.Endpoints.MinIOConsole = srv.ConsoleAddress()
	s.writeStatus()
	return nil
}

// runConnector runs the connector until ctx ends. It is not restarted if
// it returns early (Run cannot be called twice, and it retries NATS on its
// own), but that is logged and shown by `mysimbdp status`.
func (s *Stack) runConnector(ctx context.Context) error {
	s.setConnector(supervise.Status{Part: PartConnector, State: supervise.StateRunning, Pid: os.Getpid(), Since: time.Now()})
	err := s.connector.Run(ctx)
	st := supervise.Status{Part: PartConnector, State: supervise.StateStopped, Since: time.Now()}
	if ctx.Err() == nil {
		if err == nil {
			err = errors.New("returned without being stopped")
		}
		s.log.Error("the connector stopped on its own; S3 events and stream records are not delivered until mysimbdp up is restarted", "part", PartConnector, "err", err)
		st.LastExit, st.LastExitAt = err.Error(), time.Now()
	}
	s.setConnector(st)
	return err
}

func (s *Stack) setConnector(st supervise.Status) {
	s.statusMu.Lock()
	s.connStatus = &st
	s.statusMu.Unlock()
	s.writeStatus()
}

// writeStatus rewrites <data>/status.json, unless the stack is stopping.
// Best effort: a failed write is logged, it stops nothing.
func (s *Stack) writeStatus() {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	if s.statusClosed || s.cfg.DataDir == "" {
		return
	}
	ps := PartsStatus{Pid: os.Getpid(), UpdatedAt: time.Now()}
	if s.minioSup != nil {
		ps.Parts = append(ps.Parts, s.minioSup.Status())
	}
	if s.connStatus != nil {
		ps.Parts = append(ps.Parts, *s.connStatus)
	}
	raw, err := json.MarshalIndent(ps, "", "  ")
	if err == nil {
		tmp := statusFile(s.cfg.DataDir) + ".tmp"
		if err = os.WriteFile(tmp, raw, 0o644); err == nil {
			err = os.Rename(tmp, statusFile(s.cfg.DataDir))
		}
	}
	if err != nil {
		s.log.Warn("write the status file", "err", err)
	}
}

// closeStatus removes the status file and writes it no more.
func (s *Stack) closeStatus() {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	s.statusClosed = true
	if s.cfg.DataDir != "" {
		_ = os.Remove(statusFile(s.cfg.DataDir))
	}
}

// ensureConnectorS3User makes the connector's MinIO user, which may list
// buckets and object names and nothing more (minioadmin.ListOnlyPolicy).
func (s *Stack) ensureConnectorS3User(ctx context.Context) error {
	admin, err := minioadmin.New(minioadmin.Config{Binary: s.cfg.MCBinary, Endpoint: s.Endpoints.MinIO,
		Secure: s.Endpoints.MinIOSecure, CAFile: s.Endpoints.CAFile, AccessKey: s.Creds.MinIOUser, SecretKey: s.Creds.MinIOPassword})
	if err != nil {
		return fmt.Errorf("the connector's MinIO user: %w", err)
	}
	for _, step := range []func() error{
		func() error { return admin.PutUser(ctx, contract.ConnectorS3User, s.Creds.ConnectorS3Password) },
		func() error {
			return admin.PutPolicy(ctx, contract.ConnectorS3Policy, []byte(minioadmin.ListOnlyPolicy))
		},
		func() error { return admin.AttachPolicy(ctx, contract.ConnectorS3Policy, contract.ConnectorS3User) },
	} {
		if err := step(); err != nil {
			return fmt.Errorf("the connector's MinIO user: %w", err)
		}
	}
	return nil
}
