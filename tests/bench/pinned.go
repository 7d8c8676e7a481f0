package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
)

// PinnedStore is `mysimbdp ferretdb` in a process of its own on the
// machine's last core (taskset), with this process — NATS, the provider,
// the connector, the publisher and the function replicas it starts — on
// the other cores: the store no longer competes with the platform for
// cores, which is how the platform's own pace shows on a small machine
// (issue 4's note). The store is a child of this process, so CPU figures
// taken while it runs count it with the function replicas; the pinned
// runs are read by their rates alone.
type PinnedStore struct {
	URI string
	// StoreCore and OtherCores are the taskset CPU lists.
	StoreCore, OtherCores string

	cmd    *exec.Cmd
	exited chan struct{}
	unpin  func()
}

// StartPinnedStore builds the mysimbdp command from repo into dir, starts
// its FerretDB pinned to the last core and pins this process (all its
// threads, and so the processes it starts afterwards) to the others.
func StartPinnedStore(ctx context.Context, repo, dir string) (_ *PinnedStore, err error) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return nil, fmt.Errorf("the pinned store needs taskset (util-linux): %w", err)
	}
	cores := runtime.NumCPU()
	if cores < 2 {
		return nil, fmt.Errorf("the pinned store needs 2 cores, this process may use %d", cores)
	}
	s := &PinnedStore{StoreCore: strconv.Itoa(cores - 1), OtherCores: "0", exited: make(chan struct{})}
	if cores > 2 {
		s.OtherCores = fmt.Sprintf("0-%d", cores-2)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	exe := filepath.Join(dir, "mysimbdp")
	build := exec.CommandContext(ctx, "go", "build", "-o", exe, "./infra/cmd/mysimbdp")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build mysimbdp for the pinned store: %w: %s", err, out)
	}
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s.cmd = exec.Command(taskset, "-c", s.StoreCore, exe, "ferretdb", "-listen", addr, "-data", filepath.Join(dir, "ferretdb"))
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the pinned FerretDB: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	s.URI = "mongodb://" + addr + "/"

	pin := func(cpus string) error {
		out, err := exec.Command(taskset, "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).CombinedOutput()
		if err != nil {
			return fmt.Errorf("taskset -a -p -c %s %d: %w: %s", cpus, os.Getpid(), err, out)
		}
		return nil
	}
	if err := pin(s.OtherCores); err != nil {
		return nil, err
	}
	s.unpin = func() { _ = pin("0-" + strconv.Itoa(cores-1)) }

	cl, err := mongo.Connect(options.Client().ApplyURI(s.URI))
	if err != nil {
		return nil, err
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	deadline := time.Now().Add(time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := cl.Ping(pctx, nil)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, errors.New("the pinned FerretDB exited before it answered")
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the pinned FerretDB at %s does not answer within a minute: %w", addr, err)
		}
		if err := streamSleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// Close stops the store and gives this process every core back.
func (s *PinnedStore) Close() {
	if s.unpin != nil {
		s.unpin()
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// String says where the store and the rest run.
func (s *PinnedStore) String() string {
	return "store (mysimbdp ferretdb) on core " + s.StoreCore + ", everything else on " + strings.ReplaceAll(s.OtherCores, "-", "..")
}
