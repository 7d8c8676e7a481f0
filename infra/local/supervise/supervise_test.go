package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// sleeper is a real child process (sleep) as a Process.
type sleeper struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startSleeper() (*sleeper, error) {
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &sleeper{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *sleeper) Done() <-chan struct{} { return p.done }
func (p *sleeper) ExitErr() error        { return p.err }
func (p *sleeper) Pid() int              { return p.cmd.Process.Pid }
func (p *sleeper) Stop(ctx context.Context) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
		return ctx.Err()
	}
}

// rig supervises sleepers, counting starts and failing the starts the
// test asks it to.
type rig struct {
	mu      sync.Mutex
	started []*sleeper
	failing atomic.Int32 // this many next starts fail
	changes atomic.Int32
}

func (r *rig) start(context.Context) (Process, error) {
	if r.failing.Load() > 0 {
		r.failing.Add(-1)
		return nil, errors.New("port taken")
	}
	p, err := startSleeper()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.started = append(r.started, p)
	r.mu.Unlock()
	return p, nil
}

func (r *rig) all() []*sleeper {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*sleeper(nil), r.started...)
}

func newRig(t *testing.T, failFirstRestarts int32) (*rig, *Supervisor) {
	t.Helper()
	r := &rig{}
	s, err := Start(context.Background(), Config{
		Part: "sleeper", Start: r.start, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnChange: func(Status) { r.changes.Add(1) },
	}, harness.Logger(t, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	r.failing.Store(failFirstRestarts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
		for _, p := range r.all() {
			_ = p.cmd.Process.Kill()
		}
	})
	return r, s
}

func TestSupervisorRestartsAKilledProcess(t *testing.T) {
	tests := []struct {
		name         string
		failRestarts int32 // restart attempts that fail before one works
		kills        int
	}{
		{name: "one kill", kills: 1},
		{name: "three kills in a row", kills: 3},
		{name: "restart fails twice first", failRestarts: 2, kills: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, s := newRig(t, tt.failRestarts)
			for k := 1; k <= tt.kills; k++ {
				victim := s.Process().(*sleeper)
				if err := syscall.Kill(victim.Pid(), syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				until(t, 10*time.Second, fmt.Sprintf("restart %d", k), func() error {
					st := s.Status()
					if st.State != StateRunning || st.Restarts != k {
						return fmt.Errorf("status %+v", st)
					}
					return nil
				})
				st := s.Status()
				if st.LastExit != "signal: killed" || st.LastExitAt.IsZero() || st.Pid == victim.Pid() || st.LastError != "" {
					t.Fatalf("after kill %d: status %+v; want the kill recorded and a new pid", k, st)
				}
				// The new process is a live one.
				if err := syscall.Kill(st.Pid, 0); err != nil {
					t.Fatalf("restarted pid %d is not alive: %v", st.Pid, err)
				}
			}
			if got := len(r.all()); got != tt.kills+1 {
				t.Fatalf("%d processes started, want %d", got, tt.kills+1)
			}
			if r.changes.Load() == 0 {
				t.Fatal("OnChange never called")
			}
		})
	}
}

// Stop stops the run, and a process that dies while the supervisor is
// stopping is not started again.
func TestSupervisorStopsCleanlyAndDoesNotRestartWhileStopping(t *testing.T) {
	r, s := newRig(t, 0)
	p := s.Process().(*sleeper)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("process still running after Stop")
	}
	if st := s.Status(); st.State != StateStopped || st.Restarts != 0 {
		t.Fatalf("status after Stop = %+v", st)
	}
	if n := len(r.all()); n != 1 {
		t.Fatalf("%d processes started, want only the first", n)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

// After Hold the run goes on, but a kill is not followed by a restart.
func TestSupervisorHoldEndsRestarts(t *testing.T) {
	r, s := newRig(t, 0)
	s.Hold()
	p := s.Process().(*sleeper)
	if err := syscall.Kill(p.Pid(), 0); err != nil {
		t.Fatalf("Hold stopped the run: %v", err)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "the exit recorded", func() error {
		if st := s.Status(); st.State != StateStopped || st.LastExit != "signal: killed" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.all()); n != 1 || s.Status().Restarts != 0 {
		t.Fatalf("%d processes started, %d restarts; want no restart after Hold", n, s.Status().Restarts)
	}
}

// A kill during the back-off wait, then Stop: no restart happens.
func TestSupervisorStopDuringBackoff(t *testing.T) {
	r := &rig{}
	s, err := Start(context.Background(), Config{Part: "sleeper", Start: r.start, MinBackoff: time.Hour}, harness.Logger(t, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.Process().Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	until(t, 10*time.Second, "restart pending", func() error {
		if st := s.Status(); st.State != StateRestarting || st.NextRestartAt.IsZero() {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.State != StateStopped || st.Restarts != 0 {
		t.Fatalf("status after Stop = %+v", st)
	}
	if n := len(r.all()); n != 1 {
		t.Fatalf("%d processes started, want 1", n)
	}
}

func TestFirstStartFailureIsReturned(t *testing.T) {
	r := &rig{}
	r.failing.Store(1)
	if _, err := Start(context.Background(), Config{Part: "sleeper", Start: r.start}, harness.Logger(t, slog.LevelInfo)); err == nil || err.Error() != "port taken" {
		t.Fatalf("Start = %v, want the first start's error", err)
	}
}

func until(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	harness.Until(t, within, what, func() (bool, string) {
		if err := cond(); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}
