package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildCLI compiles the repo's mysimbdp command into dir and returns the
// binary's path.
func BuildCLI(ctx context.Context, repo, dir string) (string, error) {
	exe := filepath.Join(dir, "mysimbdp")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", exe, "./infra/cmd/mysimbdp")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the mysimbdp command: %v\n%s", err, out)
	}
	return exe, nil
}

// UpArgs are the arguments of `mysimbdp up` on data with every part on a
// port the OS picks, so that parallel test packages never race for one
// (the ports it got are in <data>/endpoints.json), and the repo's
// stack.yml, tenants and MinIO.
func UpArgs(repo, data string) []string {
	return []string{"up", "--data", data, "-f", filepath.Join(repo, "stack.yml"),
		"--gateway-addr", "127.0.0.1:0", "--nats-port", "0", "--mongo-addr", "127.0.0.1:0",
		"--minio-addr", "127.0.0.1:0", "--minio-console-addr", "127.0.0.1:0",
		"--minio-bin", filepath.Join(repo, "bin", "minio")}
}

// Up is a `mysimbdp up` running as a child process, as an operator runs it.
type Up struct {
	cmd    *exec.Cmd
	out    *SyncBuffer
	exited chan struct{}
	err    error
}

// StartUp runs exe (BuildCLI) with args (UpArgs and more) from the repo's
// folder and waits, until ctx is done, for it to say it is up. On an
// error the process is stopped already.
func StartUp(ctx context.Context, exe, repo string, args ...string) (*Up, error) {
	p := &Up{out: &SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Dir = repo
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mysimbdp up: %w", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.out.String(), "mysimbdp is up") {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("mysimbdp up exited (%v) before it was up:\n%s", p.err, p.out)
		case <-ctx.Done():
			stopErr := p.Stop(90 * time.Second)
			return nil, errors.Join(fmt.Errorf("mysimbdp up not up in time: %w\n%s", ctx.Err(), p.out), stopErr)
		case <-tick.C:
		}
	}
	return p, nil
}

// Output is everything the process wrote so far, stdout and stderr.
func (p *Up) Output() string { return p.out.String() }

// Exited is closed once the process has exited; Err is then its exit
// error.
func (p *Up) Exited() <-chan struct{} { return p.exited }

// Err is the process's exit error, once Exited is closed.
func (p *Up) Err() error { return p.err }

// Kill sends SIGKILL, as a crash would; Exited says when it is gone.
func (p *Up) Kill() error { return p.cmd.Process.Signal(syscall.SIGKILL) }

// ErrDidNotStop means Stop had to kill the process.
var ErrDidNotStop = errors.New("mysimbdp up did not stop after SIGTERM")

// Stop sends SIGTERM and waits up to within for a clean exit, then kills
// it. The error says it did not stop cleanly.
func (p *Up) Stop(within time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%w within %s", ErrDidNotStop, within)
	}
}

// SyncBuffer is a buffer a process's output goes to while tests read it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
