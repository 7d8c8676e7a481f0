package localstack

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mysimbdp/mysimbdp/infra/local/tlsca"
)

// The parts that serve TLS under `mysimbdp up --tls`, each with its
// certificate in <data>/secrets/tls/<part>/.
const (
	TLSPartNATS    = "nats"
	TLSPartMinIO   = "minio"
	TLSPartMongo   = "ferretdb"
	TLSPartGateway = "gateway"
)

// TLSParts are the parts that get a certificate.
func TLSParts() []string {
	return []string{TLSPartNATS, TLSPartMinIO, TLSPartMongo, TLSPartGateway}
}

// TLSDir is the folder of the platform's CA and the parts' certificates.
func TLSDir(dataDir string) string { return filepath.Join(dataDir, "secrets", "tls") }

// CAFile is the platform's CA certificate, which clients trust.
func CAFile(dataDir string) string { return filepath.Join(TLSDir(dataDir), tlsca.CACertFile) }

// EnsureTLS opens (or makes) the data folder's CA and gives each part a
// certificate, issuing one where it is missing or expires within renew
// (zero: tlsca.DefaultRenew). It returns the parts re-issued.
func EnsureTLS(dataDir string, renew time.Duration) (*tlsca.Authority, []string, error) {
	if renew <= 0 {
		renew = tlsca.DefaultRenew
	}
	ca, err := tlsca.Open(TLSDir(dataDir))
	if err != nil {
		return nil, nil, err
	}
	var issued []string
	for _, p := range TLSParts() {
		ok, err := ca.Ensure(p, renew)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			issued = append(issued, p)
		}
	}
	if err := ca.CopyCA(TLSPartMinIO, tlsca.MinIOCAsDir); err != nil {
		return nil, nil, err
	}
	return ca, issued, nil
}

// RotateTLS re-issues every part's certificate now, with validity (zero:
// tlsca.DefaultValidity). A running stack serves the new ones from the
// next handshake on: NATS and the gateway read them per handshake
// (tlsca.Reloader), MinIO watches its certs folder. FerretDB reads its
// pair when it starts.
func RotateTLS(dataDir string, validity time.Duration) (map[string]*x509.Certificate, error) {
	// A new CA here would be one no client trusts.
	if _, err := os.Stat(CAFile(dataDir)); err != nil {
		return nil, fmt.Errorf("tls rotate: no CA in %s (run `mysimbdp up --tls` first): %w", TLSDir(dataDir), err)
	}
	ca, err := tlsca.Open(TLSDir(dataDir))
	if err != nil {
		return nil, err
	}
	if validity > 0 {
		ca.SetValidity(validity)
	}
	out := map[string]*x509.Certificate{}
	for _, p := range TLSParts() {
		c, err := ca.Issue(p)
		if err != nil {
			return nil, err
		}
		out[p] = c
	}
	return out, nil
}

// natsTLS makes the embedded NATS server require TLS on its client port,
// serving the certificate in dir as it is when each client connects.
// Client certificates are not asked for: clients log in with passwords.
func natsTLS(dir string) (func(*server.Options), error) {
	r, err := tlsca.NewReloader(dir)
	if err != nil {
		return nil, fmt.Errorf("NATS TLS: %w", err)
	}
	return func(o *server.Options) {
		o.TLS = true
		o.TLSConfig = r.ServerConfig()
		o.TLSTimeout = 5
	}, nil
}

// natsHostPort is the host:port of a nats:// or tls:// URL, as MinIO's
// notification target wants its address.
func natsHostPort(natsURL string) (string, error) {
	u, err := url.Parse(natsURL)
	if err != nil {
		return "", fmt.Errorf("NATS URL: %w", err)
	}
	return u.Host, nil
}
