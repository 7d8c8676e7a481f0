package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// The running stack of a data folder holds an exclusive file lock on
// <data>/mysimbdp.pid for as long as it runs, and writes its pid into it.
// The kernel drops the lock when the process ends however it ends, so a
// stale file never blocks an `up`, and `down` signals a pid only while
// its lock is held: never a process that merely reuses a dead stack's pid.

func pidFile(dataDir string) string { return filepath.Join(dataDir, "mysimbdp.pid") }

// lockPidFile takes the data folder's lock for this process, refusing when
// another process holds it: two stacks on one data folder would corrupt
// each other's stores.
func lockPidFile(path string) (release func(), err error) {
	lk := flock.New(path)
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		if pid, err := readPid(path); err == nil {
			return nil, fmt.Errorf("mysimbdp is already running on this data folder (pid %d); stop it with `mysimbdp down` or use another --data", pid)
		}
		return nil, errors.New("mysimbdp is already running on this data folder; stop it with `mysimbdp down` or use another --data")
	}
	// Written only while the lock is held: a reader that finds the lock
	// held reads this process's pid, or an empty file for a moment.
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = lk.Unlock()
		return nil, fmt.Errorf("write pid to %s: %w", path, err)
	}
	return func() {
		_ = os.Truncate(path, 0)
		_ = lk.Unlock()
	}, nil
}

// holder is the pid of the process holding path's lock, or 0 when none
// does.
func holder(ctx context.Context, path string) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	lk := flock.New(path)
	for {
		ok, err := lk.TryLock()
		if err != nil {
			return 0, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			_ = lk.Unlock()
			return 0, nil
		}
		// Held: its pid is in the file, or about to be.
		if pid, err := readPid(path); err == nil && pid > 0 {
			return pid, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s is locked but names no pid: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// locked reports whether path's lock is held by some process.
func locked(path string) (bool, error) {
	lk := flock.New(path)
	ok, err := lk.TryLock()
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	if ok {
		_ = lk.Unlock()
	}
	return !ok, nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// stopHolder sends SIGTERM to the stack holding path's lock and waits
// until the lock is free. It reports the pid it stopped, 0 for none.
func stopHolder(ctx context.Context, path string, wait time.Duration) (int, error) {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	pid, err := holder(hctx, path)
	cancel()
	if err != nil || pid == 0 {
		return 0, err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return pid, fmt.Errorf("stop pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		held, err := locked(path)
		if err != nil {
			return pid, err
		}
		if !held {
			return pid, nil
		}
		if time.Now().After(deadline) {
			return pid, fmt.Errorf("mysimbdp (pid %d) did not stop within %s", pid, wait)
		}
		select {
		case <-ctx.Done():
			return pid, ctx.Err()
		case <-tick.C:
		}
	}
}
