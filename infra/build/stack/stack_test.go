package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const validStack = `
version: 1.0
provider:
  name: openfaas
  gateway: ${GW:-http://127.0.0.1:8080}
functions:
  echo:
    lang: golang-mysimbdp
    handler: ./functions/echo
    image: mysimbdp/echo:${TAG}
    fprocess: ./handler
    labels:
      com.openfaas.scale.max: "4"
    annotations:
      topic: a.b
    environment:
      write_timeout: 5s
    secrets: [s3-key]
    limits:
      memory: 64Mi
configuration:
  templates:
    - name: golang-mysimbdp
  copy: [./shared, ./go.mod]
`

func TestParse(t *testing.T) {
	env := map[string]string{"TAG": "0.1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	s, err := Parse([]byte(validStack), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if s.Provider.Gateway != "http://127.0.0.1:8080" {
		t.Errorf("gateway = %q, want the ${GW:-...} default", s.Provider.Gateway)
	}
	if got := s.Functions["echo"].Image; got != "mysimbdp/echo:0.1" {
		t.Errorf("image = %q, want ${TAG} expanded", got)
	}
	if !reflect.DeepEqual(s.Configuration.Copy, []string{"./shared", "./go.mod"}) {
		t.Errorf("copy = %v", s.Configuration.Copy)
	}
	d, err := s.Deployment("echo")
	if err != nil {
		t.Fatal(err)
	}
	if d.Service != "echo" || d.Image != "mysimbdp/echo:0.1" || d.EnvProcess != "./handler" ||
		d.EnvVars["write_timeout"] != "5s" || (*d.Labels)["com.openfaas.scale.max"] != "4" ||
		(*d.Annotations)["topic"] != "a.b" || d.Secrets[0] != "s3-key" || d.Limits.Memory != "64Mi" {
		t.Errorf("deployment = %+v", d)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"unknown key", strings.Replace(validStack, "    lang:", "    language: x\n    lang:", 1), "field language not found"},
		{"version", strings.Replace(validStack, "version: 1.0", "version: 2.0", 1), `version: "2.0" is not supported`},
		{"provider", strings.Replace(validStack, "name: openfaas", "name: faasd", 1), `provider.name: "faasd" is not supported`},
		{"bad name", strings.Replace(validStack, "  echo:", "  Echo_Fn:", 1), `function name "Echo_Fn" is invalid`},
		{"no image", strings.Replace(validStack, "    image: mysimbdp/echo:${TAG}\n", "", 1), "functions.echo.image: required"},
		{"missing env", strings.Replace(validStack, "${TAG}", "${NOPE}", 1), "environment variables not set and without default: NOPE"},
		{"not yaml", "functions: [", "parse YAML"},
		{"unknown top-level key", validStack + "functionz: {}\n", "functionz: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { return map[string]string{"TAG": "1"}[k], k == "TAG" }
			_, err := Parse([]byte(tt.yaml), lookup)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestEnvironmentFileIsMergedUnderEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "env.yml"), []byte("environment:\n  a: from-file\n  b: from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stackYAML := strings.Replace(validStack, "    environment:\n", "    environment_file: [env.yml]\n    environment:\n      b: inline\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "stack.yml"), []byte(stackYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TAG", "1")
	s, err := Load(filepath.Join(dir, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Deployment("echo")
	if err != nil {
		t.Fatal(err)
	}
	if d.EnvVars["a"] != "from-file" || d.EnvVars["b"] != "inline" {
		t.Fatalf("env = %v, want a from the file and b overridden inline", d.EnvVars)
	}
}

// The repo's own stack.yml must stay loadable.
func TestRepoStackLoads(t *testing.T) {
	s, err := Load("../../../stack.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range s.Names() {
		if _, err := s.Deployment(name); err != nil {
			t.Error(err)
		}
	}
}
