package contract

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		check   func(t *testing.T, e Env)
		wantErr []string // each must be in the error; none means no error
	}{
		{
			name: "defaults",
			vars: nil,
			check: func(t *testing.T, e Env) {
				want := Env{
					GatewayURL:    "http://127.0.0.1:8080",
					PlatformDB:    "mysimbdp",
					ReportSubject: "mysimbdp.reports",
					SecretsDir:    "/var/openfaas/secrets",
					StatsWindow:   10 * time.Second,
					SweepInterval: time.Minute,
					SweepAge:      10 * time.Minute,
					JSReplicas:    1,
					MetricsAddr:   ":8081",
					LogLevel:      "info",
					DataDir:       ".data",
				}
				if !equalEnv(e, want) {
					t.Errorf("defaults:\n got %+v\nwant %+v", e, want)
				}
				if e.IsSet("OPENFAAS_URL") || e.IsSet("MYSIMBDP_PLATFORM_DB") {
					t.Error("a default counts as set")
				}
			},
		},
		{
			name: "every setting by its name",
			vars: map[string]string{
				"OPENFAAS_URL": "http://gw:8080", "OPENFAAS_USERNAME": "admin", "OPENFAAS_PASSWORD": "pw",
				"MYSIMBDP_NATS_URL": "nats://n:4222", "MYSIMBDP_NATS_USER": "u", "MYSIMBDP_NATS_PASSWORD": "np",
				"MYSIMBDP_MONGO_URI": "mongodb://m", "MYSIMBDP_PLATFORM_DB": "pdb", "MYSIMBDP_REPORT_SUBJECT": "r.s.",
				"MYSIMBDP_S3_ENDPOINT": "s3:9000", "MYSIMBDP_S3_ACCESS_KEY": "ak", "MYSIMBDP_S3_SECRET_KEY": "sk",
				"MYSIMBDP_S3_SECURE": "true", "MYSIMBDP_S3_REGION": "eu", "MYSIMBDP_S3_BUCKET": "b",
				"MYSIMBDP_TENANT": "t1", "MYSIMBDP_PROFILE": "tenant: t1", "MYSIMBDP_PROFILE_SECRET": "t1-profile",
				"MYSIMBDP_SECRETS_DIR": "/s", "MYSIMBDP_SINK": "discard", "MYSIMBDP_CHECKER_FUNCTIONS": " t1-a, ,t1-b ",
				"MYSIMBDP_STATS_WINDOW": "30s", "MYSIMBDP_SCALE_STABILIZATION": "2m", "MYSIMBDP_JS_REPLICAS": "3",
				"MYSIMBDP_SWEEP_INTERVAL": "30s", "MYSIMBDP_SWEEP_AGE": "5m",
				"MYSIMBDP_METRICS_ADDR": ":9", "MYSIMBDP_LOG_LEVEL": "debug", "MYSIMBDP_CONSOLE_ADDR": ":10",
				"MYSIMBDP_DATA": "/d", "MYSIMBDP_MC": "/bin/mc",
				"MYSIMBDP_FUNCTION_S3_ENDPOINT": "fs3", "MYSIMBDP_FUNCTION_MONGO_URI": "fm", "MYSIMBDP_FUNCTION_NATS_URL": "fn",
				"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "AWS_LAMBDA_FUNCTION_NAME": "fnname",
				"AWS_ACCESS_KEY_ID": "not used: the S3 keys are set",
			},
			check: func(t *testing.T, e Env) {
				want := Env{
					GatewayURL: "http://gw:8080", GatewayUser: "admin", GatewayPassword: "pw",
					NATSURL: "nats://n:4222", NATSUser: "u", NATSPassword: "np",
					MongoURI: "mongodb://m", PlatformDB: "pdb", ReportSubject: "r.s",
					S3Endpoint: "s3:9000", S3AccessKey: "ak", S3SecretKey: "sk", S3Secure: true, S3Region: "eu", S3Bucket: "b",
					Tenant: "t1", Profile: "tenant: t1", ProfileSecret: "t1-profile", SecretsDir: "/s", Sink: "discard",
					CheckerFunctions: []string{"t1-a", "t1-b"},
					StatsWindow:      30 * time.Second, ScaleStabilization: 2 * time.Minute, JSReplicas: 3,
					SweepInterval: 30 * time.Second, SweepAge: 5 * time.Minute,
					MetricsAddr: ":9", LogLevel: "debug", ConsoleAddr: ":10", DataDir: "/d", MCBin: "/bin/mc",
					FunctionS3Endpoint: "fs3", FunctionMongoURI: "fm", FunctionNATSURL: "fn",
					LambdaRuntimeAPI: "127.0.0.1:9001", LambdaFunction: "fnname",
				}
				if !equalEnv(e, want) {
					t.Errorf("\n got %+v\nwant %+v", e, want)
				}
			},
		},
		{
			name: "AWS credentials when no S3 key is set",
			vars: map[string]string{"AWS_ACCESS_KEY_ID": "ASIA1", "AWS_SECRET_ACCESS_KEY": "role-secret", "AWS_SESSION_TOKEN": "tok"},
			check: func(t *testing.T, e Env) {
				if e.S3AccessKey != "ASIA1" || e.S3SecretKey != "role-secret" || e.S3SessionToken != "tok" {
					t.Errorf("S3 keys %q %q %q, want AWS's", e.S3AccessKey, e.S3SecretKey, e.S3SessionToken)
				}
				if e.IsSet("MYSIMBDP_S3_ACCESS_KEY") || e.IsSet("MYSIMBDP_S3_SECRET_KEY") {
					t.Error("keys taken from AWS's variables count as set")
				}
			},
		},
		{
			name: "no AWS credentials once one S3 key is set",
			vars: map[string]string{"MYSIMBDP_S3_ACCESS_KEY": "ak", "AWS_ACCESS_KEY_ID": "ASIA1", "AWS_SECRET_ACCESS_KEY": "role-secret", "AWS_SESSION_TOKEN": "tok"},
			check: func(t *testing.T, e Env) {
				if e.S3AccessKey != "ak" || e.S3SecretKey != "" || e.S3SessionToken != "" {
					t.Errorf("S3 keys %q %q %q, want only the one set", e.S3AccessKey, e.S3SecretKey, e.S3SessionToken)
				}
			},
		},
		{
			name: "the new name wins over the old",
			vars: map[string]string{
				"OPENFAAS_URL": "http://new", "GATEWAY_URL": "http://old", "MYSIMBDP_GATEWAY_URL": "http://older",
				"MYSIMBDP_NATS_URL": "nats://new", "NATS_URL": "nats://old",
				"MYSIMBDP_SECRETS_DIR": "/new", "SECRET_MOUNT_PATH": "/old",
			},
			check: func(t *testing.T, e Env) {
				if e.GatewayURL != "http://new" || e.NATSURL != "nats://new" || e.SecretsDir != "/new" {
					t.Errorf("gateway %q, NATS %q, secrets %q: want the new names' values", e.GatewayURL, e.NATSURL, e.SecretsDir)
				}
				if len(e.Deprecated) != 0 {
					t.Errorf("deprecated %v reported, but none was read", e.Deprecated)
				}
			},
		},
		{
			name: "a malformed value is named; every one at once",
			vars: map[string]string{
				"MYSIMBDP_S3_SECURE": "yes please", "MYSIMBDP_STATS_WINDOW": "500ms", "MYSIMBDP_SCALE_STABILIZATION": "-1m",
				"MYSIMBDP_SWEEP_AGE": "soon", "MYSIMBDP_JS_REPLICAS": "7",
			},
			wantErr: []string{`MYSIMBDP_S3_SECURE="yes please"`, `MYSIMBDP_STATS_WINDOW="500ms"`, `MYSIMBDP_SCALE_STABILIZATION="-1m"`, `MYSIMBDP_SWEEP_AGE="soon"`, `MYSIMBDP_JS_REPLICAS="7"`},
			check: func(t *testing.T, e Env) {
				if e.SweepAge != 10*time.Minute {
					t.Errorf("sweep age %s: a malformed value must leave the default", e.SweepAge)
				}
				if e.StatsWindow != 10*time.Second || e.ScaleStabilization != 0 || e.JSReplicas != 1 {
					t.Errorf("window %s, stabilization %s, replicas %d: a malformed value must leave the default", e.StatsWindow, e.ScaleStabilization, e.JSReplicas)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := FromEnv(getenv(tc.vars))
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want one saying %q", err, w)
				}
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

// Each old name is still read, for its new name's setting, and reported;
// Warn logs it.
func TestFromEnvDeprecated(t *testing.T) {
	cases := []struct {
		old, now string
		got      func(Env) string
	}{
		{"GATEWAY_URL", "OPENFAAS_URL", func(e Env) string { return e.GatewayURL }},
		{"MYSIMBDP_GATEWAY_URL", "OPENFAAS_URL", func(e Env) string { return e.GatewayURL }},
		{"NATS_URL", "MYSIMBDP_NATS_URL", func(e Env) string { return e.NATSURL }},
		{"NATS_USER", "MYSIMBDP_NATS_USER", func(e Env) string { return e.NATSUser }},
		{"NATS_PASSWORD", "MYSIMBDP_NATS_PASSWORD", func(e Env) string { return e.NATSPassword }},
		{"SECRET_MOUNT_PATH", "MYSIMBDP_SECRETS_DIR", func(e Env) string { return e.SecretsDir }},
		{"METRICS_ADDR", "MYSIMBDP_METRICS_ADDR", func(e Env) string { return e.MetricsAddr }},
		{"LOG_LEVEL", "MYSIMBDP_LOG_LEVEL", func(e Env) string { return e.LogLevel }},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.old+">"+c.now] = true
	}
	for _, d := range deprecatedNames() {
		if !covered[d.old+">"+d.now] {
			t.Errorf("old name %s (for %s) has no case here", d.old, d.now)
		}
	}
	for _, c := range cases {
		t.Run(c.old, func(t *testing.T) {
			e, err := FromEnv(getenv(map[string]string{c.old: "from-old"}))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.got(e); got != "from-old" {
				t.Errorf("%s read as %q, want the value of %s", c.now, got, c.old)
			}
			if !e.IsSet(c.now) {
				t.Errorf("%s given under its old name does not count as set", c.now)
			}
			want := c.old + " (use " + c.now + ")"
			if len(e.Deprecated) != 1 || e.Deprecated[0] != want {
				t.Errorf("deprecated %v, want [%s]", e.Deprecated, want)
			}
			var buf bytes.Buffer
			e.Warn(slog.New(slog.NewTextHandler(&buf, nil)))
			if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), want) {
				t.Errorf("Warn logged %d lines %q, want one naming %q", n, buf.String(), want)
			}
		})
	}
}

// equalEnv compares the settings and the old names read, not the record
// of what was set.
func equalEnv(a, b Env) bool {
	a.set, b.set = nil, nil
	if len(a.Deprecated) == 0 && len(b.Deprecated) == 0 {
		a.Deprecated, b.Deprecated = nil, nil
	}
	return reflect.DeepEqual(a, b)
}
