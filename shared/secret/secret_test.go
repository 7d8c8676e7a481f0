package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGetenv(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"t-credentials": "# the tenant's\nMYSIMBDP_S3_ACCESS_KEY=tenant-t\n\nMYSIMBDP_S3_SECRET_KEY=s3=cret\n",
		"bad":           "MYSIMBDP_S3_SECRET_KEY=hunter2\nno equals sign here\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want map[string]string // variable -> value seen through Getenv
		err  string
	}{
		{"no secret named", map[string]string{"MYSIMBDP_S3_ACCESS_KEY": "env"},
			map[string]string{"MYSIMBDP_S3_ACCESS_KEY": "env", "MYSIMBDP_S3_SECRET_KEY": ""}, ""},
		{"from the secret", map[string]string{"MYSIMBDP_CREDENTIALS_SECRET": "t-credentials", "MYSIMBDP_SECRETS_DIR": dir},
			map[string]string{"MYSIMBDP_S3_ACCESS_KEY": "tenant-t", "MYSIMBDP_S3_SECRET_KEY": "s3=cret", "MYSIMBDP_MONGO_URI": ""}, ""},
		{"a set variable wins", map[string]string{"MYSIMBDP_CREDENTIALS_SECRET": "t-credentials", "MYSIMBDP_SECRETS_DIR": dir, "MYSIMBDP_S3_ACCESS_KEY": "env"},
			map[string]string{"MYSIMBDP_S3_ACCESS_KEY": "env", "MYSIMBDP_S3_SECRET_KEY": "s3=cret"}, ""},
		{"missing secret", map[string]string{"MYSIMBDP_CREDENTIALS_SECRET": "nope", "MYSIMBDP_SECRETS_DIR": dir}, nil, `MYSIMBDP_CREDENTIALS_SECRET=nope: read secret "nope"`},
		{"malformed secret", map[string]string{"MYSIMBDP_CREDENTIALS_SECRET": "bad", "MYSIMBDP_SECRETS_DIR": dir}, nil, "line 2: want NAME=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			get, err := Getenv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("Getenv: %v, want an error with %q and no value", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				if got := get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestFormatEnvRoundTrip(t *testing.T) {
	vals := map[string]string{"B": "nats://u:p@h:4222", "A": "x=y"}
	raw, err := FormatEnv(vals)
	if err != nil || string(raw) != "A=x=y\nB=nats://u:p@h:4222\n" {
		t.Fatalf("FormatEnv: %q, %v", raw, err)
	}
	back, err := ParseEnv(raw)
	if err != nil || len(back) != 2 || back["A"] != "x=y" || back["B"] != vals["B"] {
		t.Errorf("ParseEnv: %v, %v", back, err)
	}
	if _, err := FormatEnv(map[string]string{"A": "two\nlines"}); err == nil {
		t.Error("FormatEnv accepted a line break")
	}
}

func TestRedactURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://u:pw@h:4222", "nats://u:xxxxx@h:4222"},
		{"nats://u:pw@a:1,nats://u:pw@b:2", "nats://u:xxxxx@a:1,nats://u:xxxxx@b:2"},
		{"mongodb://admin:pw@db:27017/?authSource=admin", "mongodb://admin:xxxxx@db:27017/?authSource=admin"},
	} {
		if got := RedactURLs(tc.in); got != tc.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
