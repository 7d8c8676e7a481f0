// Package e2e runs the mysimbdp CLI as an operator would — `mysimbdp up`
// as a child process with real MinIO, NATS and FerretDB — and checks the
// platform from the outside through its public endpoints.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// repoRoot is the folder with go.mod, stack.yml and bin/.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repo root not found at %s", dir)
	}
	return dir
}

// buildCommand returns a func that compiles the repo's command pkg (e.g.
// "./infra/cmd/mysimbdp") once per test run and returns its path.
func buildCommand(pkg string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "mysimbdp-e2e-bin")
		if err != nil {
			return "", err
		}
		exe := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", exe, pkg)
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
		return exe, nil
	})
}

var buildOnce = buildCommand("./infra/cmd/mysimbdp")

// cli is the mysimbdp binary, built once per test run.
func cli(t testing.TB) string {
	t.Helper()
	exe, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// upFlags are one stack's settings. Every part listens on a port the OS
// picks (address :0), so that parallel test packages never race for a port;
// the stack writes the ports it got to <data>/endpoints.json.
type upFlags struct {
	data, gateway, minioBin, stackFile string
	extra                              []string // more flags for up
}

func newUpFlags(t *testing.T) upFlags {
	return upFlags{
		data: t.TempDir(), gateway: "127.0.0.1:0",
		minioBin:  filepath.Join(repoRoot(t), "bin", "minio"),
		stackFile: filepath.Join(repoRoot(t), "stack.yml"),
	}
}

func (f upFlags) args() []string {
	args := []string{"up", "--data", f.data, "-f", f.stackFile,
		"--gateway-addr", f.gateway, "--nats-port", "0", "--mongo-addr", "127.0.0.1:0",
		"--minio-addr", "127.0.0.1:0", "--minio-console-addr", "127.0.0.1:0", "--minio-bin", f.minioBin}
	return append(args, f.extra...)
}

func endpoints(t *testing.T, f upFlags) localstack.Endpoints {
	t.Helper()
	e, err := localstack.ReadEndpoints(f.data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// startUp runs `mysimbdp up` and waits until it says it is up. The process
// is stopped (SIGTERM, then SIGKILL) when the test ends, whatever happens.
func startUp(t *testing.T, f upFlags) *harness.Up {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	up, err := harness.StartUp(ctx, cli(t), repoRoot(t), f.args()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopUp(t, up) })
	return up
}

// stopUp sends SIGTERM and waits for the process to exit.
func stopUp(t *testing.T, up *harness.Up) {
	t.Helper()
	if err := up.Stop(90 * time.Second); errors.Is(err, harness.ErrDidNotStop) {
		t.Errorf("%v:\n%s", err, up.Output())
	}
}

func gatewayClient(t *testing.T, f upFlags) *gateway.Client {
	t.Helper()
	gw, err := gateway.NewFromSecrets(endpoints(t, f).Gateway, localstack.GatewaySecretsDir(f.data))
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// processesUnder lists live processes whose executable or command line
// mentions dir: every process the stack starts (MinIO, function replicas)
// runs from or on its data folder.
func processesUnder(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(stat), ") Z ") { // a zombie is already dead
			continue
		}
		line := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(line, dir) || strings.HasPrefix(exe, dir) {
			found = append(found, fmt.Sprintf("%d %s", pid, line))
		}
	}
	return found
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runCLI(t *testing.T, f upFlags, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(cli(t), args...)
	cmd.Env = append(os.Environ(), "MYSIMBDP_DATA="+f.data)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestUpRunsThePlatformAndRestartKeepsData is the quick start, end to end:
// `up` brings every real part up, the stack's echo function answers through
// /function/echo, Ctrl-C leaves no process behind, and a second `up` on the
// same data folder finds objects, messages, documents and functions again.
func TestUpRunsThePlatformAndRestartKeepsData(t *testing.T) {
	f := newUpFlags(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	up := startUp(t, f)
	gw := gatewayClient(t, f)

	// The function answers through the gateway, from the CLI and over HTTP.
	out, err := runCLI(t, f, "hello platform", "invoke", "echo")
	if err != nil || out != "hello platform" {
		t.Fatalf("mysimbdp invoke echo = %q, %v; want the body echoed", out, err)
	}
	e := endpoints(t, f)
	resp, err := http.Post(e.Gateway+"/function/echo", "text/plain", strings.NewReader("over http"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "over http" {
		t.Fatalf("POST /function/echo = %d %q", resp.StatusCode, body)
	}
	out, err = runCLI(t, f, "", "list")
	if err != nil || !strings.Contains(out, "echo") {
		t.Fatalf("mysimbdp list = %q, %v", out, err)
	}

	// Scale and logs through the CLI, with replica counts read back from the API.
	if out, err := runCLI(t, f, "", "scale", "echo", "2"); err != nil {
		t.Fatalf("mysimbdp scale echo 2: %v\n%s", err, out)
	}
	waitFor(t, "echo has 2 available replicas", time.Minute, func() error {
		st, err := gw.Function(ctx, "echo", "")
		if err != nil {
			return err
		}
		if st.Replicas != 2 || st.AvailableReplicas != 2 {
			return fmt.Errorf("replicas %d, available %d", st.Replicas, st.AvailableReplicas)
		}
		return nil
	})
	out, err = runCLI(t, f, "", "logs", "echo")
	if err != nil || !strings.Contains(out, "function ready") {
		t.Fatalf("mysimbdp logs echo = %q, %v; want the replicas' start-up lines", out, err)
	}
	if out, err := runCLI(t, f, "", "scale", "echo", "99"); err == nil || !strings.Contains(out, "com.openfaas.scale.max") {
		t.Fatalf("scale above the max label: %v\n%s; want a refusal naming com.openfaas.scale.max", err, out)
	}

	// Without credentials the system API is closed.
	resp, err = http.Get(e.Gateway + "/system/functions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /system/functions without credentials = %d, want 401", resp.StatusCode)
	}

	// Put something into each store.
	creds, err := localstack.LoadOrCreateCredentials(f.data)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(e.MinIO, &minio.Options{Creds: credentials.NewStaticV4(creds.MinIOUser, creds.MinIOPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "keep", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(ctx, "keep", "a.txt", strings.NewReader("object data"), 11, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(e.NATS)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "keep.one", []byte("message data")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	mcl, err := mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mcl.Database("keep").Collection("docs").InsertOne(ctx, bson.D{{Key: "_id", Value: "d1"}, {Key: "v", Value: 42}}); err != nil {
		t.Fatal(err)
	}
	_ = mcl.Disconnect(ctx)

	// `mysimbdp down` stops it cleanly, leaving no process behind.
	if out, err := runCLI(t, f, "", "down", "--data", f.data); err != nil {
		t.Fatalf("mysimbdp down: %v\n%s", err, out)
	}
	select {
	case <-up.Exited():
	case <-time.After(90 * time.Second):
		t.Fatalf("up did not exit after down:\n%s", up.Output())
	}
	if up.Err() != nil {
		t.Fatalf("up exited with %v:\n%s", up.Err(), up.Output())
	}
	if left := processesUnder(f.data); len(left) > 0 {
		t.Fatalf("processes left running after down: %v", left)
	}

	// A restart on the same data folder finds everything again (on new ports).
	startUp(t, f)
	e = endpoints(t, f)
	mc, err = minio.New(e.MinIO, &minio.Options{Creds: credentials.NewStaticV4(creds.MinIOUser, creds.MinIOPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	gw = gatewayClient(t, f)
	obj, err := mc.GetObject(ctx, "keep", "a.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj)
	if err != nil || string(data) != "object data" {
		t.Fatalf("object after restart = %q, %v", data, err)
	}
	nc, err = nats.Connect(e.NATS)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	stream, err := js.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil || string(msg.Data) != "message data" {
		t.Fatalf("JetStream message after restart = %v, %v", msg, err)
	}
	mcl, err = mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer mcl.Disconnect(ctx)
	var doc struct {
		V int `bson:"v"`
	}
	if err := mcl.Database("keep").Collection("docs").FindOne(ctx, bson.D{{Key: "_id", Value: "d1"}}).Decode(&doc); err != nil || doc.V != 42 {
		t.Fatalf("document after restart = %+v, %v", doc, err)
	}
	waitFor(t, "echo answers after restart", time.Minute, func() error {
		resp, err := gw.Invoke(ctx, "echo", strings.NewReader("again"), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "again" {
			return fmt.Errorf("answered %d %q", resp.StatusCode, b)
		}
		return nil
	})
}

// Operator mistakes get a message that says what failed and what to do,
// and leave nothing running.
func TestUpBadInput(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*upFlags) func()
		wantOut string
	}{
		{
			name: "gateway port taken",
			edit: func(f *upFlags) func() {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				f.gateway = ln.Addr().String()
				return func() { ln.Close() }
			},
			wantOut: "address already in use (is another mysimbdp or OpenFaaS running? pick another address with --gateway-addr)",
		},
		{
			name: "missing MinIO binary",
			edit: func(f *upFlags) func() {
				f.minioBin = filepath.Join(f.data, "no-such-minio")
				return func() {}
			},
			wantOut: "run ./scripts/setup",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newUpFlags(t)
			undo := tt.edit(&f)
			defer undo()
			cmd := exec.Command(cli(t), f.args()...)
			cmd.Dir = repoRoot(t)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("up succeeded, want a failure:\n%s", out.String())
				}
			case <-time.After(3 * time.Minute):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("up did not fail within 3 minutes:\n%s", out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output does not say %q:\n%s", tt.wantOut, out.String())
			}
			if left := processesUnder(f.data); len(left) > 0 {
				t.Fatalf("processes left running after a failed up: %v", left)
			}
		})
	}
}
