// Package trust gives every client of the platform (functions, the
// connector, the CLI) the same TLS trust: the system's roots plus the
// platform's CA (contract.EnvTLSCAFile), when one is given. Whether a link
// uses TLS stays the URL's to say (tls://, https://, ?tls=true, S3
// secure; MongoDB's driver: package mongotrust); with no CA file every
// function here leaves the client as it was, so a platform without TLS
// is reached as before.
package trust

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"
)

// Pool is the system's roots plus the CA in caFile.
func Pool(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	raw, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the platform's CA: %w", err)
	}
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("the platform's CA %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// Config is a client TLS configuration trusting caFile; nil for no
// caFile (Go's defaults).
func Config(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := Pool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// NATS are the nats.Connect options that trust caFile: none without one.
// They set the TLS configuration only, not nats.Secure: nats.go uses TLS
// when the URL is tls:// or the server requires it (as a TLS server
// always does), and a plain server is still reached in the clear.
func NATS(caFile string) []nats.Option {
	if caFile == "" {
		return nil
	}
	return []nats.Option{func(o *nats.Options) error {
		cfg, err := Config(caFile)
		if err != nil {
			return err
		}
		o.TLSConfig = cfg
		return nil
	}}
}

// S3Transport is a transport for minio-go trusting caFile when secure;
// nil (minio-go's own) otherwise.
func S3Transport(secure bool, caFile string) (http.RoundTripper, error) {
	if !secure || caFile == "" {
		return nil, nil
	}
	cfg, err := Config(caFile)
	if err != nil {
		return nil, err
	}
	tr, err := minio.DefaultTransport(true)
	if err != nil {
		return nil, fmt.Errorf("S3 transport: %w", err)
	}
	tr.TLSClientConfig = cfg
	return tr, nil
}

// HTTP makes tr trust caFile (for https:// URLs); tr unchanged without one.
func HTTP(tr *http.Transport, caFile string) error {
	cfg, err := Config(caFile)
	if err != nil || cfg == nil {
		return err
	}
	tr.TLSClientConfig = cfg
	return nil
}
