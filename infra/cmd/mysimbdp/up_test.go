package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
)

// TestUpBannerHidesPasswords: the banner shows where each part is and
// where its password is kept, never a password (a terminal's scrollback
// and CI logs are read by more people than the data folder).
func TestUpBannerHidesPasswords(t *testing.T) {
	creds := localstack.Credentials{GatewayUser: "admin", GatewayPassword: "gw-0f3a9c2e7b", MinIOUser: "mysimbdp", MinIOPassword: "minio-8d1e4b", NATSPassword: "nats-7c2f9a"}
	var out strings.Builder
	e := localstack.Endpoints{Gateway: "http://127.0.0.1:8080", GatewaySecret: "/data/secrets/gateway", NATS: "nats://mysimbdp:" + creds.NATSPassword + "@127.0.0.1:4222",
		MongoURI: "mongodb://127.0.0.1:27017/", MinIO: "127.0.0.1:9000"}
	printUp(&out, time.Second, e, creds, "/data", []string{"tenant1"})
	for _, want := range []string{
		"http://127.0.0.1:8080   (user admin, password in /data/secrets/gateway/basic-auth-password)",
		"http://127.0.0.1:8080/ui/   (the gateway's user and password)",
		"nats://127.0.0.1:4222   (user mysimbdp, password in /data/secrets/nats/platform-password)",
		"http://127.0.0.1:9000   (user mysimbdp, password in /data/secrets/minio/root-password)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	for _, secret := range []string{creds.GatewayPassword, creds.MinIOPassword, creds.NATSPassword} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("banner shows a password (%s):\n%s", secret, out.String())
		}
	}
}
