package main

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holdLockEnv makes the test binary a stand-in for a running stack: it
// takes the lock of the folder named, says so on stdout, and holds it
// until SIGTERM.
const holdLockEnv = "MYSIMBDP_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdLockEnv); dir != "" {
		release, err := lockPidFile(pidFile(dir))
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(3)
		}
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		os.Stdout.WriteString("locked\n")
		<-term
		release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startHolder runs a process that holds dir's lock, and stops it when the
// test ends.
func startHolder(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, len("locked\n"))
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("lock holder did not start: %q, %v", buf, err)
	}
	return cmd
}

func TestUpLockIsHeldByOneProcess(t *testing.T) {
	dir := t.TempDir()
	holder := startHolder(t, dir)

	if _, err := lockPidFile(pidFile(dir)); err == nil || !strings.Contains(err.Error(), "already running on this data folder (pid "+strconv.Itoa(holder.Process.Pid)+")") {
		t.Fatalf("second up on a held folder: err %v, want it refused naming pid %d", err, holder.Process.Pid)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pid, err := stopHolder(ctx, pidFile(dir), 20*time.Second)
	if err != nil || pid != holder.Process.Pid {
		t.Fatalf("down stopped pid %d (%v), want the holder %d", pid, err, holder.Process.Pid)
	}
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder did not exit cleanly on SIGTERM: %v", err)
	}

	release, err := lockPidFile(pidFile(dir))
	if err != nil {
		t.Fatalf("up after down: %v", err)
	}
	release()
}

// A stale pid file — its stack died without releasing anything — names a
// pid the system may have handed to another process: down must not
// signal it, and up must not be refused by it.
func TestStalePidFileNamesNobody(t *testing.T) {
	dir := t.TempDir()
	bystander := exec.Command("sleep", "60")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })
	if err := os.WriteFile(filepath.Join(dir, "mysimbdp.pid"), []byte(strconv.Itoa(bystander.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	pid, err := stopHolder(context.Background(), pidFile(dir), time.Second)
	if err != nil || pid != 0 {
		t.Fatalf("down on a stale pid file: stopped pid %d (%v), want nothing stopped", pid, err)
	}
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process named by the stale file was signalled: %v", err)
	}
	release, err := lockPidFile(pidFile(dir))
	if err != nil {
		t.Fatalf("up refused by a stale pid file: %v", err)
	}
	release()
}
