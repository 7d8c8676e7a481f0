package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/local/tlsca"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestTLSOnEveryLink runs `mysimbdp up --tls` once and checks, from the
// outside: each part's port takes a TLS handshake with the platform's CA
// and refuses a plain-TCP client; a file uploaded over https and records
// published over tls:// are stored (through MinIO's NATS target, the
// connector, the gateway and the functions, all over TLS); and `mysimbdp
// tls rotate` makes NATS, MinIO and the gateway serve new certificates to
// the next handshake while the platform keeps running and ingesting.
func TestTLSOnEveryLink(t *testing.T) {
	f := newUpFlags(t)
	f.extra = []string{"--tls"}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	startUp(t, f)
	e := endpoints(t, f)
	if e.CAFile == "" || !e.MinIOSecure || !strings.HasPrefix(e.NATS, "tls://") ||
		!strings.HasPrefix(e.Gateway, "https://") || !strings.Contains(e.MongoURI, "tls=true") {
		t.Fatalf("endpoints of a --tls stack: %+v", e)
	}
	for _, key := range []string{"ca.key", "nats/private.key", "minio/private.key", "ferretdb/private.key", "gateway/private.key"} {
		fi, err := os.Stat(filepath.Join(localstack.TLSDir(f.data), key))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", key, err, fi.Mode().Perm())
		}
	}
	caCfg, err := trust.Config(e.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	natsAddr, mongoAddr, gwAddr := hostOfURL(t, e.NATS), hostOfURL(t, e.MongoURI), hostOfURL(t, e.Gateway)

	t.Run("plain TCP is refused on every TLS port", func(t *testing.T) {
		for _, p := range []struct {
			part, addr string
			natsProto  bool
			plain      func(ctx context.Context) error // nil: the plain client got nowhere
		}{
			{"nats", natsAddr, true, func(ctx context.Context) error { return plainNATS(natsAddr) }},
			{"minio", e.MinIO, false, func(ctx context.Context) error { return plainHTTP(ctx, "http://"+e.MinIO+"/minio/health/cluster") }},
			{"minio console", e.MinIOConsole, false, func(ctx context.Context) error { return plainHTTP(ctx, "http://"+e.MinIOConsole+"/") }},
			{"gateway", gwAddr, false, func(ctx context.Context) error { return plainHTTP(ctx, "http://"+gwAddr+"/healthz") }},
			{"mongodb", mongoAddr, false, func(ctx context.Context) error { return plainMongo(ctx, "mongodb://"+mongoAddr+"/") }},
		} {
			t.Run(p.part, func(t *testing.T) {
				// The port does serve TLS with the CA: the refusal below
				// is not a dead port's.
				if _, err := serialAt(p.addr, p.natsProto, caCfg); err != nil {
					t.Fatalf("TLS handshake with the platform's CA: %v", err)
				}
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := p.plain(pctx); err != nil {
					t.Errorf("a plain-TCP client was served: %v", err)
				}
			})
		}
	})

	creds, err := localstack.LoadOrCreateCredentials(f.data)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := trust.S3Transport(true, e.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(e.MinIO, &minio.Options{Creds: credentials.NewStaticV4(creds.MinIOUser, creds.MinIOPassword, ""), Secure: true, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(e.NATS, trust.NATS(e.CAFile)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	mopts, err := mongotrust.Options(options.Client().ApplyURI(e.MongoURI), e.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	db, err := mongo.Connect(mopts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Disconnect(context.Background())
	rows := db.Database("tenant1").Collection("covid_daily")
	// ingest uploads rows [from, to) as a file and publishes [to, to+n)
	// as records, then waits for the collection to hold want rows.
	ingest := func(t *testing.T, key string, from, to, n int, want int64) {
		t.Helper()
		body := ecdc.CSV(from, to)
		if _, err := mc.PutObject(ctx, "tenant1", "incoming/"+key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/csv"}); err != nil {
			t.Fatalf("upload over https: %v", err)
		}
		if err := ecdc.Publish(ctx, js, "ingest.tenant1.covid", to, to+n); err != nil {
			t.Fatalf("publish over tls://: %v", err)
		}
		waitFor(t, "tenant1's file and records stored", 2*time.Minute, func() error {
			got, err := rows.CountDocuments(ctx, bson.D{})
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%d rows, want %d", got, want)
			}
			return nil
		})
	}

	t.Run("a file and stream records are stored", func(t *testing.T) {
		ingest(t, "tls-0.csv", 0, 300, 100, 400)
		// tenant2's own app (deployed from stack.yml, its settings from
		// its credentials secret) reads its file over https too.
		body := ecdc.CSV(0, 200)
		if _, err := mc.PutObject(ctx, "tenant2", "incoming/tls-0.csv", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/csv"}); err != nil {
			t.Fatalf("upload over https: %v", err)
		}
		byApp := db.Database("tenant2").Collection("ecdc_by_app")
		waitFor(t, "tenant2's file stored by its own app", 2*time.Minute, func() error {
			got, err := byApp.CountDocuments(ctx, bson.D{})
			if err != nil {
				return err
			}
			if got != 200 {
				return fmt.Errorf("%d rows, want 200", got)
			}
			return nil
		})
	})

	t.Run("the standalone connector trusts the CA it is given", func(t *testing.T) {
		exe, err := buildConnectorOnce()
		if err != nil {
			t.Fatal(err)
		}
		master, err := localstack.ReadInvokeMasterKey(f.data)
		if err != nil {
			t.Fatal(err)
		}
		// Ready means NATS (tls://) and the gateway (https://) answered.
		for _, tc := range []struct {
			name  string
			env   []string
			ready bool
		}{
			{"with " + contract.EnvTLSCAFile, []string{contract.EnvTLSCAFile + "=" + e.CAFile}, true},
			{"without it", nil, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				addr := fmt.Sprintf("127.0.0.1:%d", freeport.MustGet())
				cmd := exec.Command(exe, "--refresh-interval", "500ms")
				cmd.Env = append(os.Environ(), contract.EnvNATSURL+"="+e.NATS, contract.EnvGatewayURL+"="+e.Gateway,
					contract.EnvSecretsDir+"="+e.GatewaySecret, contract.EnvMetricsAddr+"="+addr, contract.EnvLogLevel+"=warn",
					contract.EnvInvokeMasterKey+"="+master)
				cmd.Env = append(cmd.Env, tc.env...)
				var out harness.SyncBuffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
				readyz := func() error {
					resp, err := http.Get("http://" + addr + "/readyz")
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						return fmt.Errorf("/readyz: %s", resp.Status)
					}
					return nil
				}
				if tc.ready {
					waitFor(t, "the connector ready", 30*time.Second, readyz)
					return
				}
				// Serving, but never ready: it cannot verify the parts.
				waitFor(t, "the connector serving /healthz", 30*time.Second, func() error {
					resp, err := http.Get("http://" + addr + "/healthz")
					if err != nil {
						return err
					}
					resp.Body.Close()
					return nil
				})
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) {
					if err := readyz(); err == nil {
						t.Fatalf("ready without the CA:\n%s", out.String())
					}
					time.Sleep(200 * time.Millisecond)
				}
			})
		}
	})

	t.Run("rotation without a restart", func(t *testing.T) {
		parts := []struct {
			part, addr string
			natsProto  bool
		}{{localstack.TLSPartNATS, natsAddr, true}, {localstack.TLSPartMinIO, e.MinIO, false}, {localstack.TLSPartGateway, gwAddr, false}}
		before := map[string]*big.Int{}
		for _, p := range parts {
			s, err := serialAt(p.addr, p.natsProto, caCfg)
			if err != nil {
				t.Fatalf("%s: %v", p.part, err)
			}
			before[p.part] = s
		}
		if out, err := runCLI(t, f, "", "tls", "rotate", "--data", f.data); err != nil {
			t.Fatalf("mysimbdp tls rotate: %v\n%s", err, out)
		}
		for _, p := range parts {
			want := fileSerial(t, filepath.Join(localstack.TLSDir(f.data), p.part, tlsca.CertFile))
			if want.Cmp(before[p.part]) == 0 {
				t.Fatalf("%s: rotate kept serial %x", p.part, want)
			}
			waitFor(t, p.part+" serves the new certificate", 30*time.Second, func() error {
				got, err := serialAt(p.addr, p.natsProto, caCfg)
				if err != nil {
					return err
				}
				if got.Cmp(want) != 0 {
					return fmt.Errorf("serial %x, want %x", got, want)
				}
				return nil
			})
		}
		// The same process carries on: connections made before keep going,
		// new ones (the status probes, the functions' clients) handshake
		// with the new certificates, and MinIO's events still arrive.
		if out, err := runCLI(t, f, "", "status", "--data", f.data); err != nil {
			t.Fatalf("status after rotation: %v\n%s", err, out)
		}
		ingest(t, "tls-1.csv", 1000, 1200, 100, 700)
	})
}

func hostOfURL(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// serialAt makes a new TLS handshake with addr, trusting cfg's roots, and
// returns the serial of the certificate served. NATS first sends its INFO
// line in the clear and then expects the handshake.
func serialAt(addr string, natsProto bool, cfg *tls.Config) (*big.Int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if natsProto {
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("read INFO: %w", err)
		}
		if !strings.Contains(line, `"tls_required":true`) {
			return nil, fmt.Errorf("NATS does not require TLS: %s", line)
		}
	}
	c := cfg.Clone()
	c.ServerName = "127.0.0.1"
	tc := tls.Client(conn, c)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return tc.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func fileSerial(t *testing.T, path string) *big.Int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber
}

// plainNATS speaks NATS's protocol in the clear after the INFO line; nil
// when the server never answers the PING (it waits for a handshake and
// then drops the connection).
func plainNATS(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(8 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		return nil
	}
	if _, err := io.WriteString(conn, "CONNECT {\"verbose\":false}\r\nPING\r\n"); err != nil {
		return nil
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil
		}
		if strings.HasPrefix(line, "PONG") {
			return errors.New("NATS answered PONG in the clear")
		}
	}
}

// plainHTTP is nil unless url answers 200 over plain HTTP.
func plainHTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// plainMongo is nil unless a ping without TLS succeeds.
func plainMongo(ctx context.Context, uri string) error {
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(3 * time.Second))
	if err != nil {
		return nil
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	if err := c.Ping(ctx, nil); err != nil {
		return nil
	}
	return errors.New("MongoDB answered a ping in the clear")
}
