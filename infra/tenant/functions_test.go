package tenant

import (
	"slices"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

func TestDeployments(t *testing.T) {
	env := FunctionEnv{S3Endpoint: "minio:9000", MongoURI: "mongodb://db/", NATSURL: "nats://u:p@nats:4222"}
	for _, tc := range []struct {
		name, apps string
		scaling    string
		want       []string
		min, zero  string
	}{
		{"platform apps, scale to zero", "", "scaling: {min: 0, max: 3, idle_before_zero: 2m}\n",
			[]string{"acme-batch-ingest", "acme-stream-ingest"}, "1", "true"},
		{"own batch app, warm", "apps: {batch: own}\n", "scaling: {min: 2, max: 3}\n",
			[]string{"acme-stream-ingest"}, "2", ""},
		{"own apps only", "apps: {batch: own, stream: own}\n", "", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := profile.Parse([]byte("tenant: acme\n"+tc.apps+tc.scaling+"sink:\n  collection: c\n  schema:\n    - {name: a, type: string}\n"), "acme.yaml")
			if err != nil {
				t.Fatal(err)
			}
			ds := Deployments(p, env)
			var names []string
			for _, d := range ds {
				names = append(names, d.Service)
				l, a := *d.Labels, *d.Annotations
				if l["com.mysimbdp.tenant"] != "acme" || l["com.openfaas.scale.min"] != tc.min || l["com.mysimbdp.scale.zero"] != tc.zero || l["com.openfaas.scale.zero"] != "" || l["com.openfaas.scale.max"] != "3" && tc.scaling != "" {
					t.Errorf("%s labels %v", d.Service, l)
				}
				if !slices.Equal(d.Secrets, []string{"acme-profile", "acme-credentials"}) || d.EnvVars["MYSIMBDP_PROFILE_SECRET"] != "acme-profile" ||
					d.EnvVars["MYSIMBDP_CREDENTIALS_SECRET"] != "acme-credentials" {
					t.Errorf("%s secrets %v env %v", d.Service, d.Secrets, d.EnvVars)
				}
				// No credential is an environment variable.
				for _, k := range []string{"MYSIMBDP_S3_ACCESS_KEY", "MYSIMBDP_S3_SECRET_KEY", "MYSIMBDP_MONGO_URI", "MYSIMBDP_NATS_URL"} {
					if _, ok := d.EnvVars[k]; ok {
						t.Errorf("%s: %s is an environment variable", d.Service, k)
					}
				}
				switch d.Service {
				case "acme-batch-ingest":
					if a["topic"] != "s3:acme" || d.Image != BatchImage || d.EnvVars["MYSIMBDP_S3_ENDPOINT"] != env.S3Endpoint {
						t.Errorf("batch function %+v", d)
					}
				case "acme-stream-ingest":
					if a["topic"] != "ingest.acme.>" || d.Image != StreamImage {
						t.Errorf("stream function %+v", d)
					}
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("functions %v, want %v", names, tc.want)
			}
		})
	}
}

// TestRegistry: a registry moves the platform apps' images off Docker Hub,
// as platform-apps.yml's ${MYSIMBDP_REGISTRY:-mysimbdp}/<app> does.
func TestRegistry(t *testing.T) {
	for _, tc := range []struct{ registry, image, want string }{
		{"", BatchImage, "mysimbdp/batch-ingest:latest"},
		{"ghcr.io/acme", BatchImage, "ghcr.io/acme/batch-ingest:latest"},
		{"registry.example.com:5000/team/", StreamImage, "registry.example.com:5000/team/stream-ingest:latest"},
		{" localhost:5000 ", "stream-ingest:1", "localhost:5000/stream-ingest:1"},
	} {
		if got := Image(tc.registry, tc.image); got != tc.want {
			t.Errorf("Image(%q, %q) = %q, want %q", tc.registry, tc.image, got, tc.want)
		}
	}
	p, err := profile.Parse([]byte("tenant: acme\nsink:\n  collection: c\n  schema:\n    - {name: a, type: string}\n"), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Deployments(p, FunctionEnv{Registry: "ghcr.io/acme"}) {
		if want := "ghcr.io/acme/" + d.Service[len("acme-"):] + ":latest"; d.Image != want {
			t.Errorf("%s image %q, want %q", d.Service, d.Image, want)
		}
	}
}

func TestCredentialsSecret(t *testing.T) {
	// The platform's NATS user in the URL gives way to the tenant's
	// functions' own.
	env := FunctionEnv{S3Endpoint: "minio:9000", MongoURI: "mongodb://m:pw@db/", NATSURL: "nats://u:p@nats:4222"}
	raw, err := CredentialsSecret(env, Credentials{Tenant: "acme", S3AccessKey: "tenant-acme", S3SecretKey: "s3-secret", NATSFunctionPassword: "fn-pw"})
	if err != nil {
		t.Fatal(err)
	}
	want := "MYSIMBDP_MONGO_URI=mongodb://m:pw@db/\nMYSIMBDP_NATS_URL=nats://fn-acme:fn-pw@nats:4222\nMYSIMBDP_S3_ACCESS_KEY=tenant-acme\nMYSIMBDP_S3_SECRET_KEY=s3-secret\n"
	if string(raw) != want {
		t.Errorf("credentials secret:\n%s\nwant:\n%s", raw, want)
	}
}
