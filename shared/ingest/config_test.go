package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The credentials reach a function as its credentials secret, not as
// environment variables.
func TestConfigFromCredentialsSecret(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x-credentials"), []byte(
		"MYSIMBDP_S3_ACCESS_KEY=tenant-x\nMYSIMBDP_S3_SECRET_KEY=sk\nMYSIMBDP_MONGO_URI=mongodb://u:p@h/\nMYSIMBDP_NATS_URL=nats://u:p@h:4222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"MYSIMBDP_PROFILE": "tenant: x", "MYSIMBDP_S3_ENDPOINT": "h:1",
		"MYSIMBDP_SECRETS_DIR": dir, "MYSIMBDP_CREDENTIALS_SECRET": "x-credentials",
	}
	c, err := ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.S3AccessKey != "tenant-x" || c.S3SecretKey != "sk" || c.MongoURI != "mongodb://u:p@h/" || c.NATSURL != "nats://u:p@h:4222" {
		t.Errorf("config from the secret: %+v", c)
	}
	vars["MYSIMBDP_CREDENTIALS_SECRET"] = "missing"
	if _, err := ConfigFromEnv(func(k string) string { return vars[k] }); err == nil || !strings.Contains(err.Error(), "MYSIMBDP_CREDENTIALS_SECRET=missing") {
		t.Errorf("a missing credentials secret: %v, want an error naming it", err)
	}
}
