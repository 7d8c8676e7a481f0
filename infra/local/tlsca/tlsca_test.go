package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAuthority(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	ca, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.Ensure("nats", DefaultRenew)
	if err != nil || !issued {
		t.Fatalf("first Ensure: issued %v, %v", issued, err)
	}
	first := certAt(t, ca.PartDir("nats"))

	// Reopened, it is the same CA, and a valid certificate stays.
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if issued, err := again.Ensure("nats", DefaultRenew); err != nil || issued {
		t.Fatalf("Ensure of a fresh certificate: issued %v, %v", issued, err)
	}

	for _, tc := range []struct {
		name   string
		renew  time.Duration
		issued bool
	}{
		{"far from expiry", 30 * 24 * time.Hour, false},
		{"within the renewal window", 100 * 24 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			issued, err := again.Ensure("nats", tc.renew)
			if err != nil || issued != tc.issued {
				t.Fatalf("Ensure(%s): issued %v, %v; want %v", tc.renew, issued, err, tc.issued)
			}
		})
	}
	renewed := certAt(t, ca.PartDir("nats"))
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("renewed certificate has the old serial")
	}

	roots := x509.NewCertPool()
	raw, err := os.ReadFile(ca.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(raw)
	for _, name := range []string{"127.0.0.1", "localhost", "::1"} {
		if _, err := renewed.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("certificate for %s: %v", name, err)
		}
	}
	for _, f := range []string{filepath.Join(dir, caKeyFile), filepath.Join(ca.PartDir("nats"), KeyFile)} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v; want mode 0600", f, err)
		}
	}
}

// TestReloaderServesARotatedCertificate: a server configured once serves
// the re-issued certificate to the next handshake.
func TestReloaderServesARotatedCertificate(t *testing.T) {
	ca, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue("gateway"); err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(ca.PartDir("gateway"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	roots := x509.NewCertPool()
	raw, _ := os.ReadFile(ca.CAFile())
	roots.AppendCertsFromPEM(raw)
	served := func() *x509.Certificate {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	before := served()
	next, err := ca.Issue("gateway")
	if err != nil {
		t.Fatal(err)
	}
	after := served()
	if after.SerialNumber.Cmp(next.SerialNumber) != 0 || after.SerialNumber.Cmp(before.SerialNumber) == 0 {
		t.Fatalf("served serial %x after rotation; before %x, new %x", after.SerialNumber, before.SerialNumber, next.SerialNumber)
	}
}

func certAt(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}
