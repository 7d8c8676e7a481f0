package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestFromEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t-profile"), []byte("tenant: from-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name              string
		env               map[string]string
		yaml, source, err string
	}{
		{"inline wins", map[string]string{"MYSIMBDP_PROFILE": "tenant: inline\n", "MYSIMBDP_PROFILE_SECRET": "t-profile"}, "tenant: inline\n", "$MYSIMBDP_PROFILE", ""},
		{"from the secret", map[string]string{"MYSIMBDP_PROFILE_SECRET": "t-profile", "MYSIMBDP_SECRETS_DIR": dir}, "tenant: from-secret\n", filepath.Join(dir, "t-profile"), ""},
		{"missing secret", map[string]string{"MYSIMBDP_PROFILE_SECRET": "nope", "MYSIMBDP_SECRETS_DIR": dir}, "", "", "MYSIMBDP_PROFILE_SECRET=nope: read the profile secret"},
		{"neither", map[string]string{}, "", "", "MYSIMBDP_PROFILE is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, _ := contract.FromEnv(func(k string) string { return c.env[k] })
			yaml, source, err := FromEnv(env)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || string(yaml) != c.yaml || source != c.source {
				t.Errorf("got %q from %q, %v; want %q from %q", yaml, source, err, c.yaml, c.source)
			}
		})
	}
}
