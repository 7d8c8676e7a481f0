package fnbuild

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
)

func repoStack(t *testing.T) *stack.Stack {
	t.Helper()
	s, err := stack.Load("../../../stack.yml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The build context has faas-cli's shrinkwrap layout.
func TestContextLayout(t *testing.T) {
	b := &Builder{Stack: repoStack(t), BuildDir: t.TempDir()}
	dir, err := b.Context("echo")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"template.yml", "Dockerfile", "main.go", "go.work", "function/handler.go", "function/go.mod", "function/go.sum", "function/shared/fnrun/fnrun.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("build context lacks %s: %v", f, err)
		}
	}
	handler, _ := os.ReadFile(filepath.Join(dir, "function/handler.go"))
	if !strings.Contains(string(handler), "echo function") {
		t.Errorf("function/handler.go is not the echo handler (the template's sample was not overlaid)")
	}
}

func TestContextErrors(t *testing.T) {
	s := repoStack(t)
	tests := []struct {
		name, wantErr string
		edit          func(*stack.Stack)
	}{
		{"unknown function", `function "nope" is not in the stack`, nil},
		{"unknown template", `language template "cobol" not found`, func(s *stack.Stack) {
			fn := s.Functions["echo"]
			fn.Lang = "cobol"
			s.Functions["echo"] = fn
		}},
		{"copy outside project", `is outside the project folder`, func(s *stack.Stack) { s.Configuration.Copy = []string{"../../.."} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := *s
			cp.Functions = map[string]stack.Function{"echo": s.Functions["echo"]}
			if tt.edit != nil {
				tt.edit(&cp)
			}
			name := "echo"
			if tt.edit == nil {
				name = "nope"
			}
			_, err := (&Builder{Stack: &cp, BuildDir: t.TempDir()}).Context(name)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// Build compiles the context into a runnable function at its image path.
func TestBuildRunsTheFunction(t *testing.T) {
	images := t.TempDir()
	b := &Builder{Stack: repoStack(t), BuildDir: t.TempDir(), ImagesDir: images}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	exe, err := b.Build(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(images, "mysimbdp/echo/latest"); exe != want {
		t.Fatalf("built at %s, want %s", exe, want)
	}

	port := freeport.MustGet()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "port="+strconv.Itoa(port), "host=127.0.0.1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitReady(t, base, 20*time.Second)

	resp, err := http.Post(base+"/", "text/plain", strings.NewReader("ping"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ping" {
		t.Fatalf("echo answered %d %q, want 200 ping", resp.StatusCode, body)
	}

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("function exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("function did not exit after SIGTERM")
	}
}

func waitReady(t *testing.T, base string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(base + "/_/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s (last error %v)", base, within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
