package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
)

// TestUpBannerHidesNATSPassword: the banner shows where NATS is and where
// its password is kept, never the password.
func TestUpBannerHidesNATSPassword(t *testing.T) {
	const password = "0f3a9c2e7b"
	var out strings.Builder
	e := localstack.Endpoints{Gateway: "http://127.0.0.1:8080", NATS: "nats://mysimbdp:" + password + "@127.0.0.1:4222", MongoURI: "mongodb://127.0.0.1:27017/"}
	printUp(&out, time.Second, e, localstack.Credentials{NATSPassword: password}, "/data", []string{"tenant1"})
	for _, want := range []string{"nats://127.0.0.1:4222", "user mysimbdp, password in /data/secrets/nats/platform-password"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), password) {
		t.Errorf("banner shows the NATS password:\n%s", out.String())
	}
}
