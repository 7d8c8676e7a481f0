// Package supervise keeps a child process of the local platform running:
// when it exits without being asked to (a crash, a kill -9, the OOM
// killer) it is started again after an exponential back-off, and every exit
// and restart is logged. `mysimbdp up` supervises the MinIO server with it;
// the function replicas have the provider's own restart loop.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultStableAfter = time.Minute
)

// Process is one run of a supervised part.
type Process interface {
	// Done is closed once the process has exited.
	Done() <-chan struct{}
	// ExitErr says how it exited (nil for status 0); valid once Done is
	// closed.
	ExitErr() error
	// Pid is the process id, for operators.
	Pid() int
	// Stop ends the process gracefully, or by force when ctx ends.
	Stop(ctx context.Context) error
}

// Config says what to supervise.
type Config struct {
	// Part names what is supervised, in logs and Status ("minio").
	Part string
	// Start starts one run and returns once it is ready. It is called
	// again after each unexpected exit; ctx ends when Stop is called.
	Start func(ctx context.Context) (Process, error)
	// MinBackoff is the first wait before a restart; it doubles after
	// each restart up to MaxBackoff, and goes back to MinBackoff once a
	// run has lasted StableAfter.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// OnChange, if set, is called after every change of Status, on the
	// supervisor's goroutine (e.g. to write a status file).
	OnChange func(Status)
}

// State is what a supervised part is doing.
type State string

const (
	// StateRunning: a run is up.
	StateRunning State = "running"
	// StateRestarting: the last run exited; the next starts at
	// Status.NextRestartAt (or is starting).
	StateRestarting State = "restarting"
	// StateStopped: Stop was called; nothing runs and nothing will.
	StateStopped State = "stopped"
)

// Status is what the supervisor knows about its part.
type Status struct {
	Part  string `json:"part"`
	State State  `json:"state"`
	// Pid is the running process's id (StateRunning only).
	Pid int `json:"pid,omitempty"`
	// Since is when the part entered State.
	Since time.Time `json:"since"`
	// Restarts counts successful restarts since the first start.
	Restarts int `json:"restarts"`
	// LastExit is how the last run ended unasked ("signal: killed"),
	// at LastExitAt.
	LastExit   string    `json:"last_exit,omitempty"`
	LastExitAt time.Time `json:"last_exit_at,omitzero"`
	// NextRestartAt is when the next start is due (StateRestarting).
	NextRestartAt time.Time `json:"next_restart_at,omitzero"`
	// LastError is why the last restart attempt failed, cleared by a
	// successful one.
	LastError string `json:"last_error,omitempty"`
}

// Supervisor runs one part and restarts it when it exits.
type Supervisor struct {
	cfg Config
	log *slog.Logger

	// runCtx bounds the restarts' start-ups; cancelled by Stop.
	runCtx    context.Context
	cancelRun context.CancelFunc
	stopping  chan struct{} // closed by Stop
	stopOnce  sync.Once
	held      chan struct{} // closed by Hold
	holdOnce  sync.Once
	done      chan struct{} // closed when the loop has returned
	stopErr   error         // the last run's Stop error; valid after done

	mu      sync.Mutex
	status  Status
	current Process
	stopCtx context.Context // Stop's, for stopping the current run
}

// Start starts the part once and supervises it from then on. A failure of
// that first start is returned as it is: nothing is retried before the
// part has been seen to work.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Supervisor, error) {
	if cfg.Start == nil {
		return nil, errors.New("supervise: Config.Start is nil")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = DefaultStableAfter
	}
	if log == nil {
		log = slog.Default()
	}
	p, err := cfg.Start(ctx)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, log: log, stopping: make(chan struct{}), held: make(chan struct{}), done: make(chan struct{})}
	s.runCtx, s.cancelRun = context.WithCancel(context.WithoutCancel(ctx))
	s.current = p
	s.status = Status{Part: cfg.Part, State: StateRunning, Pid: p.Pid(), Since: time.Now()}
	s.changed()
	go s.loop(p)
	return s, nil
}

// Status is a snapshot of what the supervisor knows.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Process is the current run (the last one while restarting).
func (s *Supervisor) Process() Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Stop stops supervising and the current run; no restart happens once it
// is called. It returns once the loop is over, with the run's Stop error.
// Calling it again returns the first result.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopCtx = ctx
		s.mu.Unlock()
		close(s.stopping)
		s.cancelRun()
	})
	select {
	case <-s.done:
		return s.stopErr
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", s.cfg.Part, ctx.Err())
	}
}

// Hold ends the restarts but leaves the current run alone, for a
// platform that is shutting down and still needs the part while others
// drain: an exit from now on is recorded, not followed by a restart.
func (s *Supervisor) Hold() {
	s.holdOnce.Do(func() { close(s.held) })
}

func (s *Supervisor) isHeld() bool {
	select {
	case <-s.held:
		return true
	default:
		return false
	}
}

// waitStop records an exit that is not followed by a restart and waits
// for Stop.
func (s *Supervisor) waitStop(exit string) {
	s.update(func(st *Status) {
		st.State, st.Pid, st.NextRestartAt, st.LastExit, st.LastExitAt = StateStopped, 0, time.Time{}, exit, time.Now()
	})
	s.log.Warn("part exited while the platform stops; not restarted", "part", s.cfg.Part, "exit", exit)
	<-s.stopping
}

func (s *Supervisor) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

func (s *Supervisor) loop(p Process) {
	defer close(s.done)
	delay := s.cfg.MinBackoff
	started := time.Now()
	for {
		select {
		case <-s.stopping:
		case <-p.Done():
		}
		if s.isStopping() {
			s.mu.Lock()
			ctx := s.stopCtx
			s.mu.Unlock()
			s.stopErr = p.Stop(ctx)
			s.update(func(st *Status) { st.State, st.Pid, st.NextRestartAt = StateStopped, 0, time.Time{} })
			return
		}
		if s.isHeld() {
			s.waitStop(describeExit(p.ExitErr()))
			continue // to the stop above
		}
		ran := time.Since(started)
		if ran >= s.cfg.StableAfter {
			delay = s.cfg.MinBackoff
		}
		exit := describeExit(p.ExitErr())
		s.update(func(st *Status) { st.LastExit, st.LastExitAt = exit, time.Now() })
		for {
			next := time.Now().Add(delay)
			st := s.update(func(st *Status) { st.State, st.Pid, st.NextRestartAt = StateRestarting, 0, next })
			s.log.Warn("part exited unexpectedly; restarting it", "part", s.cfg.Part, "exit", exit,
				"ran", ran.Round(time.Millisecond).String(), "restarts", st.Restarts, "next_delay", delay.String())
			t := time.NewTimer(delay)
			select {
			case <-s.stopping:
				t.Stop()
			case <-s.held:
				t.Stop()
			case <-t.C:
			}
			if s.isStopping() {
				break // the outer loop stops what is left
			}
			if s.isHeld() {
				s.waitStop(exit)
				break
			}
			delay = min(delay*2, s.cfg.MaxBackoff)
			np, err := s.cfg.Start(s.runCtx)
			if err != nil {
				if s.isStopping() {
					break
				}
				exit = "restart failed"
				s.update(func(st *Status) { st.LastError = err.Error() })
				s.log.Error("restart failed; trying again", "part", s.cfg.Part, "err", err, "next_delay", delay.String())
				continue
			}
			p, started = np, time.Now()
			s.mu.Lock()
			s.current = np
			s.mu.Unlock()
			st = s.update(func(st *Status) {
				st.State, st.Pid, st.Restarts, st.NextRestartAt, st.LastError = StateRunning, np.Pid(), st.Restarts+1, time.Time{}, ""
			})
			s.log.Warn("part restarted", "part", s.cfg.Part, "pid", np.Pid(), "restarts", st.Restarts, "last_exit", st.LastExit)
			break
		}
	}
}

// update changes the status under the lock, stamps Since on a change of
// state, and tells OnChange.
func (s *Supervisor) update(f func(*Status)) Status {
	s.mu.Lock()
	before := s.status.State
	f(&s.status)
	if s.status.State != before {
		s.status.Since = time.Now()
	}
	st := s.status
	s.mu.Unlock()
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(st)
	}
	return st
}

func (s *Supervisor) changed() { s.update(func(*Status) {}) }

func describeExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
