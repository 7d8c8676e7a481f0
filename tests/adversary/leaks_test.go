package adversary

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
)

// secretValues is every secret the platform holds, by what it is: the
// platform's generated passwords and master key, each tenant's
// credentials and stats token, and every function's invocation key.
func secretValues(t *testing.T) map[string]string {
	t.Helper()
	creds, err := localstack.LoadOrCreateCredentials(rig.data)
	if err != nil {
		t.Fatal(err)
	}
	s := map[string]string{
		"gateway password":                   creds.GatewayPassword,
		"MinIO root password":                creds.MinIOPassword,
		"connector's MinIO password":         creds.ConnectorS3Password,
		"NATS platform password":             creds.NATSPassword,
		"invocation master key":              creds.InvokeMasterKey,
		"tenant1's S3 secret key":            rig.t1.S3SecretKey,
		"tenant1's NATS password":            rig.t1.NATSPassword,
		"tenant1's MongoDB password":         rig.t1.MongoPassword,
		"tenant1's stats token":              rig.t1.StatsToken,
		"tenant2's S3 secret key":            rig.t2.S3SecretKey,
		"tenant2's NATS password":            rig.t2.NATSPassword,
		"tenant2's MongoDB password":         rig.t2.MongoPassword,
		"tenant2's stats token":              rig.t2.StatsToken,
		"tenant1's NATS password hash":       rig.t1.NATSPasswordHash,
		"tenant1's functions' NATS password": rig.t1.NATSFunctionPassword,
		"tenant2's functions' NATS password": rig.t2.NATSFunctionPassword,
	}
	keys, _ := filepath.Glob(filepath.Join(rig.data, "provider", "secrets", "*", "*-invoke-key"))
	if len(keys) < 5 { // tenant1's two, tenant2's two, stats, scaler
		t.Fatalf("found %d invocation keys in the data folder: %v", len(keys), keys)
	}
	for _, f := range keys {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s[filepath.Base(f)] = strings.TrimSpace(string(b))
	}
	for what, v := range s {
		if len(v) < 8 {
			t.Fatalf("%s is %q: too short to look for", what, v)
		}
	}
	return s
}

// leaked names the secrets text holds.
func leaked(secrets map[string]string, text string) []string {
	var out []string
	for what, v := range secrets {
		if strings.Contains(text, v) {
			out = append(out, what)
		}
	}
	return out
}

// No secret is in an answer of the gateway's API (to the operator, who
// may list functions and secrets, and so to anyone who gets that far),
// in the logs of `mysimbdp up -v` (every part, the connector included),
// or on the command line of any process (which every user sees in ps).
func TestNoSecretInAnswersLogsOrArgv(t *testing.T) {
	secrets := secretValues(t)
	creds, err := localstack.LoadOrCreateCredentials(rig.data)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rig.e.Gateway+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(creds.GatewayUser, creds.GatewayPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	list := get("/system/functions")
	var fns []types.FunctionStatus
	if err := json.Unmarshal([]byte(list), &fns); err != nil {
		t.Fatalf("%v in %s", err, list)
	}
	answers := map[string]string{"/system/functions": list, "/system/secrets": get("/system/secrets"),
		"/system/info": get("/system/info"), "/system/namespaces": get("/system/namespaces")}
	for _, fn := range fns {
		answers["/system/function/"+fn.Name] = get("/system/function/" + fn.Name)
		logs := "/system/logs?" + url.Values{"name": {fn.Name}, "follow": {"false"}}.Encode()
		answers[logs] = get(logs)
	}
	t.Run("API answers", func(t *testing.T) {
		for path, body := range answers {
			if l := leaked(secrets, body); len(l) > 0 {
				t.Errorf("GET %s answers %v", path, l)
			}
		}
	})
	t.Run("up's output", func(t *testing.T) {
		out := rig.up.Output()
		if !strings.Contains(out, `"level":"INFO"`) {
			t.Fatalf("up -v logged nothing at info level: the check would prove nothing:\n%s", out)
		}
		if l := leaked(secrets, out); len(l) > 0 {
			t.Errorf("up's output (every part's log) holds %v", l)
		}
	})
	t.Run("command lines", func(t *testing.T) {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			t.Fatalf("read /proc (the command lines to check): %v", err)
		}
		seen := 0
		for _, e := range entries {
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || len(cmdline) == 0 {
				continue
			}
			seen++
			line := strings.ReplaceAll(string(cmdline), "\x00", " ")
			if l := leaked(secrets, line); len(l) > 0 {
				t.Errorf("process %s's command line holds %v: %s", e.Name(), l, line)
			}
		}
		if seen < 5 {
			t.Fatalf("read %d command lines: the check would prove nothing", seen)
		}
	})
}
