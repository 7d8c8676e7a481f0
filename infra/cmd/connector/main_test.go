package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDatabaseDriver: the connector binary links no MongoDB driver (nor
// the NATS server): it needs neither, and the driver was only ever pulled
// in through type aliases and shared helpers.
func TestNoDatabaseDriver(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 || !strings.Contains(string(out), "github.com/mysimbdp/mysimbdp/infra/connector") {
		t.Fatalf("go list -deps listed %d packages, not the connector's: %s", len(deps), out)
	}
	for _, d := range deps {
		for _, banned := range []string{"go.mongodb.org/", "github.com/nats-io/nats-server/"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("the connector links %s", d)
			}
		}
	}
}

// TestEnvironment: flags default to the environment as contract.FromEnv
// reads it, old names included; a flag wins over its variable.
func TestEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "new name", env: map[string]string{"MYSIMBDP_LOG_LEVEL": "loud"}, want: `log level "loud"`},
		{name: "old name", env: map[string]string{"LOG_LEVEL": "shouty"}, want: `log level "shouty"`},
		{name: "both", env: map[string]string{"MYSIMBDP_LOG_LEVEL": "new", "LOG_LEVEL": "old"}, want: `log level "new"`},
		{name: "flag wins", env: map[string]string{"MYSIMBDP_LOG_LEVEL": "env"}, args: []string{"-log-level", "flag"}, want: `log level "flag"`},
		{name: "bad value", env: map[string]string{"MYSIMBDP_S3_SECURE": "maybe"}, want: "MYSIMBDP_S3_SECURE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An unreadable level stops run before it connects anywhere.
			err := run(tc.args, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
