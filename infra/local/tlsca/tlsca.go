// Package tlsca is the local platform's certificate authority: a CA made
// once in the data folder and one certificate per part (NATS, MinIO,
// FerretDB, the gateway) for 127.0.0.1 and localhost, re-issued when it
// nears its expiry. Servers take their certificate through a Reloader, so
// a certificate re-issued while they run is served from the next
// handshake on, without a restart.
//
// Layout of the folder (<data>/secrets/tls), keys 0600:
//
//	ca.crt ca.key                    the CA (ECDSA P-256, 10 years)
//	<part>/public.crt <part>/private.key   a part's certificate and key
//	minio/CAs/ca.crt                 the CA again, where MinIO looks for it
//
// <part>/public.crt and private.key are the names MinIO's --certs-dir
// wants; every part uses them, so that one layout serves all.
package tlsca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Validity of what the authority issues, and how close to its expiry a
// part's certificate is re-issued by Ensure.
const (
	CAValidity      = 10 * 365 * 24 * time.Hour
	DefaultValidity = 90 * 24 * time.Hour
	DefaultRenew    = 30 * 24 * time.Hour
)

// File names inside the folder and inside each part's folder.
const (
	CACertFile = "ca.crt"
	caKeyFile  = "ca.key"
	CertFile   = "public.crt"
	KeyFile    = "private.key"
	// MinIOCAsDir is where MinIO, given the part's folder as --certs-dir,
	// finds the CAs it trusts as a client (its NATS notification target).
	MinIOCAsDir = "CAs"
)

// Authority issues the parts' certificates.
type Authority struct {
	dir      string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	validity time.Duration
}

// Open loads the CA in dir, making it (and dir, 0700) the first time.
func Open(dir string) (*Authority, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: create %s: %w", dir, err)
	}
	a := &Authority{dir: dir, validity: DefaultValidity}
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if errors.Is(err, os.ErrNotExist) {
		return a, a.create()
	}
	if err != nil {
		return nil, fmt.Errorf("tls: read the CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("tls: read the CA's key: %w", err)
	}
	if a.cert, err = parseCert(certPEM); err != nil {
		return nil, fmt.Errorf("tls: the CA in %s: %w", dir, err)
	}
	if a.key, err = parseKey(keyPEM); err != nil {
		return nil, fmt.Errorf("tls: the CA's key in %s: %w", dir, err)
	}
	return a, nil
}

// SetValidity sets how long the certificates issued from now on last
// (tests issue short-lived ones).
func (a *Authority) SetValidity(d time.Duration) { a.validity = d }

// CAFile is the CA certificate's path, the file clients trust.
func (a *Authority) CAFile() string { return filepath.Join(a.dir, CACertFile) }

// PartDir is the folder holding part's certificate and key.
func (a *Authority) PartDir(part string) string { return filepath.Join(a.dir, part) }

func (a *Authority) create() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mysimbdp local CA", Organization: []string{"mysimbdp"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tls: sign the CA: %w", err)
	}
	if a.cert, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("tls: the new CA: %w", err)
	}
	a.key = key
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	// The key first: a CA certificate without its key would be kept and
	// could never issue.
	if err := writeFile(filepath.Join(a.dir, caKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(a.dir, CACertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// Ensure makes sure part has a certificate of this CA that is valid for
// longer than renewWithin, issuing one if not; it reports whether it did.
func (a *Authority) Ensure(part string, renewWithin time.Duration) (bool, error) {
	raw, err := os.ReadFile(filepath.Join(a.PartDir(part), CertFile))
	if err == nil {
		c, perr := parseCert(raw)
		_, kerr := os.Stat(filepath.Join(a.PartDir(part), KeyFile))
		if perr == nil && kerr == nil && c.CheckSignatureFrom(a.cert) == nil && time.Until(c.NotAfter) > renewWithin {
			return false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("tls: read %s's certificate: %w", part, err)
	}
	_, err = a.Issue(part)
	return err == nil, err
}

// Issue gives part a new key and certificate for 127.0.0.1, ::1 and
// localhost, and returns the certificate. The files are rewritten in
// place, the key first: a server watching them (MinIO) reloads on the
// certificate's write, when both are new; a Reloader that reads them in
// between finds a pair that does not match and keeps the one it has.
func (a *Authority) Issue(part string) (*x509.Certificate, error) {
	dir := a.PartDir(part)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: create %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: %s's key: %w", part, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "mysimbdp " + part, Organization: []string{"mysimbdp"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(a.validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Client auth too: MinIO and NATS may be told to present theirs.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("tls: sign %s's certificate: %w", part, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tls: %s's new certificate: %w", part, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return cert, nil
}

// CopyCA puts the CA certificate into part's folder under sub (MinIO's
// CAs/), unless it is there already.
func (a *Authority) CopyCA(part, sub string) error {
	dir := filepath.Join(a.PartDir(part), sub)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tls: create %s: %w", dir, err)
	}
	ca, err := os.ReadFile(a.CAFile())
	if err != nil {
		return fmt.Errorf("tls: read the CA: %w", err)
	}
	dst := filepath.Join(dir, CACertFile)
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, ca) {
		return nil
	}
	return writeFile(dst, ca, 0o644)
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tls: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("tls: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCert(raw []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(raw)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(raw []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key of type %T, want ECDSA", k)
	}
	return ek, nil
}

// writeFile writes in place (not a rename): MinIO watches for a file
// closed after writing.
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("tls: write %s: %w", path, err)
	}
	if err := os.Chmod(path, perm); err != nil {
		return fmt.Errorf("tls: restrict %s: %w", path, err)
	}
	return nil
}

// Reloader serves a part's certificate to a tls.Config, reading its files
// again whenever they change, so that a re-issued certificate is served
// from the next handshake on.
type Reloader struct {
	certFile, keyFile string

	mu sync.Mutex
	st reloaderState
}

type reloaderState struct {
	cert              *tls.Certificate
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// NewReloader loads the pair in dir (public.crt, private.key).
func NewReloader(dir string) (*Reloader, error) {
	r := &Reloader{certFile: filepath.Join(dir, CertFile), keyFile: filepath.Join(dir, KeyFile)}
	st, err := r.load()
	if err != nil {
		return nil, err
	}
	r.st = st
	return r, nil
}

func (r *Reloader) load() (reloaderState, error) {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return reloaderState{}, fmt.Errorf("tls: %w", err)
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return reloaderState{}, fmt.Errorf("tls: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return reloaderState{}, fmt.Errorf("tls: load %s: %w", r.certFile, err)
	}
	return reloaderState{cert: &pair, certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

// GetCertificate is tls.Config's: the current certificate, reloaded first
// if its files changed. A pair that fails to load (caught between the two
// writes of a re-issue) leaves the last good one in use.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ci, err1 := os.Stat(r.certFile)
	ki, err2 := os.Stat(r.keyFile)
	if err1 == nil && err2 == nil && (!ci.ModTime().Equal(r.st.certMod) || !ki.ModTime().Equal(r.st.keyMod) ||
		ci.Size() != r.st.certSize || ki.Size() != r.st.keySize) {
		if next, err := r.load(); err == nil {
			r.st = next
		}
	}
	return r.st.cert, nil
}

// ServerConfig is a TLS server configuration serving r's certificate.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
