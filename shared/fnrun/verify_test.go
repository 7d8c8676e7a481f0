package fnrun

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
)

// A function with an invocation key runs its handler only for requests
// signed with that key within the window; the probes need no signature.
func TestSignedInvocations(t *testing.T) {
	key := invokesig.FunctionKey([]byte("master"), "tenant1-stream-ingest")
	var ran atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("got "), b...))
	})
	base, _, _ := serve(t, h, Config{WriteTimeout: 5 * time.Second, ExecTimeout: 5 * time.Second, InvokeKey: string(key)})
	body := []byte(`{"records":[]}`)
	now := time.Now()
	for _, tt := range []struct {
		name     string
		path     string
		sign     func(h http.Header)
		wantCode int
		wantBody string
		wantRun  bool
	}{
		{name: "signed", path: "/", sign: func(h http.Header) { invokesig.Sign(h, key, http.MethodPost, "/", "", body, now) },
			wantCode: http.StatusOK, wantBody: "got " + string(body), wantRun: true},
		{name: "signed sub-path", path: "/sub?x=1", sign: func(h http.Header) { invokesig.Sign(h, key, http.MethodPost, "/sub", "x=1", body, now) },
			wantCode: http.StatusOK, wantBody: "got " + string(body), wantRun: true},
		{name: "unsigned", path: "/", wantCode: http.StatusUnauthorized, wantBody: "unsigned invocation"},
		{name: "another function's key", path: "/", sign: func(h http.Header) {
			invokesig.Sign(h, invokesig.FunctionKey([]byte("master"), "tenant2-stream-ingest"), http.MethodPost, "/", "", body, now)
		}, wantCode: http.StatusUnauthorized, wantBody: "bad signature"},
		{name: "signed for another body", path: "/", sign: func(h http.Header) { invokesig.Sign(h, key, http.MethodPost, "/", "", []byte("{}"), now) },
			wantCode: http.StatusUnauthorized, wantBody: "bad signature"},
		{name: "replayed after the window", path: "/", sign: func(h http.Header) {
			invokesig.Sign(h, key, http.MethodPost, "/", "", body, now.Add(-invokesig.DefaultWindow-time.Minute))
		}, wantCode: http.StatusUnauthorized, wantBody: "stale timestamp"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := ran.Load()
			req, err := http.NewRequest(http.MethodPost, base+tt.path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.sign != nil {
				tt.sign(req.Header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode || !strings.Contains(string(b), tt.wantBody) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, b, tt.wantCode, tt.wantBody)
			}
			if got := ran.Load() > before; got != tt.wantRun {
				t.Fatalf("handler ran = %v, want %v", got, tt.wantRun)
			}
			if !tt.wantRun && resp.Header.Get(contract.HeaderOrigin) != contract.OriginRuntime {
				t.Errorf("refusal not marked as the runtime's (%s = %q)", contract.HeaderOrigin, resp.Header.Get(contract.HeaderOrigin))
			}
		})
	}
	for _, p := range []string{HealthPath, ReadyPath} {
		if code, _ := get(t, base+p); code != http.StatusOK {
			t.Errorf("GET %s unsigned = %d, want 200", p, code)
		}
	}
}

// The key is read from the secret the environment names; a named secret
// that is missing stops the function rather than leave it open.
func TestInvokeKeyFromSecret(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fn-invoke-key"), []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty-invoke-key"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, secret, want, wantErr string
	}{
		{name: "no secret named", secret: "", want: ""},
		{name: "secret present", secret: "fn-invoke-key", want: "k3y"},
		{name: "secret missing", secret: "other-invoke-key", wantErr: "other-invoke-key"},
		{name: "secret empty", secret: "empty-invoke-key", wantErr: "empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, err := contract.FromEnv(func(k string) string {
				return map[string]string{contract.EnvSecretsDir: dir, contract.EnvInvokeKeySecret: tt.secret}[k]
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := invokeKey(env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("invokeKey = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// A function that authenticates some methods itself (HandlerAuth) gets
// those requests unsigned only when they carry an Authorization header;
// every other request, of those methods without one or of any other
// method with one, still needs the signature.
func TestHandlerAuthMethods(t *testing.T) {
	key := invokesig.FunctionKey([]byte("master"), "stats")
	var ran atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran.Add(1)
		w.Write([]byte("handler"))
	})
	base, _, _ := serve(t, h, Config{WriteTimeout: 5 * time.Second, InvokeKey: string(key), HandlerAuth: []string{http.MethodGet}})
	for _, tt := range []struct {
		name, method, auth string
		signed             bool
		wantCode           int
		wantRun            bool
	}{
		{name: "GET with credentials reaches the handler", method: http.MethodGet, auth: "Basic YWRtaW46eA==", wantCode: http.StatusOK, wantRun: true},
		{name: "GET with a bearer token reaches the handler", method: http.MethodGet, auth: "Bearer t", wantCode: http.StatusOK, wantRun: true},
		{name: "GET without credentials", method: http.MethodGet, wantCode: http.StatusUnauthorized},
		{name: "POST with credentials, unsigned", method: http.MethodPost, auth: "Basic YWRtaW46eA==", wantCode: http.StatusUnauthorized},
		{name: "DELETE with credentials, unsigned", method: http.MethodDelete, auth: "Bearer t", wantCode: http.StatusUnauthorized},
		{name: "signed POST", method: http.MethodPost, signed: true, wantCode: http.StatusOK, wantRun: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := ran.Load()
			req, err := http.NewRequest(tt.method, base+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.signed {
				invokesig.Sign(req.Header, key, tt.method, "/", "", nil, time.Now())
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("%s = %d, want %d", tt.method, resp.StatusCode, tt.wantCode)
			}
			if got := ran.Load() > before; got != tt.wantRun {
				t.Fatalf("handler ran = %v, want %v", got, tt.wantRun)
			}
		})
	}
}
