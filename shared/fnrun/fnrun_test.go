package fnrun

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "defaults", env: nil,
			want: Config{Port: 8080, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, ExecTimeout: 10 * time.Second, DrainTimeout: 10 * time.Second}},
		{name: "durations and seconds", env: map[string]string{"port": "9001", "read_timeout": "5s", "write_timeout": "90", "exec_timeout": "0"},
			want: Config{Port: 9001, ReadTimeout: 5 * time.Second, WriteTimeout: 90 * time.Second, ExecTimeout: 0, DrainTimeout: 90 * time.Second}},
		{name: "bad port", env: map[string]string{"port": "http"}, wantErr: `env port="http": want a TCP port number`},
		{name: "port out of range", env: map[string]string{"port": "70000"}, wantErr: "want a TCP port number"},
		{name: "bad duration", env: map[string]string{"exec_timeout": "soon"}, wantErr: `env exec_timeout="soon": want a duration`},
		{name: "negative duration", env: map[string]string{"read_timeout": "-3s"}, wantErr: "non-negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// serve starts Serve on a free port and returns its base URL, a function
// that stops it (as SIGTERM would) and the channel Serve's result lands on.
func serve(t *testing.T, h http.Handler, cfg Config) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		done <- ServeListener(ctx, ln, h, cfg, slog.New(slog.DiscardHandler))
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Error("function did not stop")
		}
	})
	return "http://" + ln.Addr().String(), cancel, done
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeAnswersProbesAndHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "handled "+r.URL.Path) })
	base, _, _ := serve(t, h, Config{WriteTimeout: 5 * time.Second, ExecTimeout: 5 * time.Second})
	for _, tt := range []struct{ path, want string }{
		{HealthPath, "OK"}, {ReadyPath, "OK"}, {"/", "handled /"}, {"/sub/path", "handled /sub/path"},
	} {
		code, body := get(t, base+tt.path)
		if code != http.StatusOK || body != tt.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.path, code, body, tt.want)
		}
	}
}

// The runtime's own 503 on exec_timeout is marked as the runtime's, so
// that the connector counts it as a failure; a handler's own 503 (its
// deferral) and its other answers are not.
func TestExecTimeoutAnswers503(t *testing.T) {
	for _, tt := range []struct {
		name       string
		h          http.HandlerFunc
		code       int
		body       string
		wantOrigin string
	}{
		{name: "timeout", h: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			code: http.StatusServiceUnavailable, body: "exceeded exec_timeout of 50ms", wantOrigin: contract.OriginRuntime},
		{name: "handler's own 503", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "10")
			http.Error(w, "store down", http.StatusServiceUnavailable)
		}, code: http.StatusServiceUnavailable, body: "store down"},
		{name: "ok", h: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") },
			code: http.StatusOK, body: "fine"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, _, _ := serve(t, tt.h, Config{WriteTimeout: 5 * time.Second, ExecTimeout: 50 * time.Millisecond})
			resp, err := http.Get(base + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || !strings.Contains(string(b), tt.body) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, b, tt.code, tt.body)
			}
			if got := resp.Header.Get(contract.HeaderOrigin); got != tt.wantOrigin {
				t.Errorf("%s = %q, want %q", contract.HeaderOrigin, got, tt.wantOrigin)
			}
		})
	}
}

// A SIGTERM (here: the context) must let an in-flight request finish.
func TestStopDrainsInFlightRequests(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	base, stop, done := serve(t, h, Config{WriteTimeout: 10 * time.Second, DrainTimeout: 10 * time.Second})

	type result struct {
		code int
		body string
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/")
		if err != nil {
			answered <- result{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- result{resp.StatusCode, string(b)}
	}()
	<-started
	stop()
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if r := <-answered; r.code != http.StatusOK || r.body != "finished" {
		t.Fatalf("in-flight request got %d %q, want 200 finished", r.code, r.body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after draining")
	}
}

func TestServeReportsTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	err = Serve(context.Background(), http.NotFoundHandler(), Config{Host: "127.0.0.1", Port: port}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v, want address already in use", err)
	}
}
