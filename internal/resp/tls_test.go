package resp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ringchat test redis"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// rediss:// against a real server's TLS port: the certificate is verified,
// and a trusted one carries commands, pipelines and pub/sub.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	tlsPort := redistest.FreePort(t)
	srv := redistest.StartConfig(t, redistest.Config{Args: []string{
		"--tls-port", fmt.Sprint(tlsPort),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", certFile,
		"--tls-auth-clients", "no",
		"--requirepass", "pw",
	}})
	ctx := ctxFor(t, 10*time.Second)
	o, err := resp.ParseURL(fmt.Sprintf("rediss://:pw@127.0.0.1:%d/2", tlsPort))
	if err != nil {
		t.Fatal(err)
	}

	untrusting := newClient(t, o)
	if err := untrusting.Ping(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("PING with an unknown certificate: %v, want a verification error", err)
	}

	o.TLS.RootCAs = pool
	c := newClient(t, o)
	for range 3 { // the same pooled connection, again and again
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var p resp.Pipeline
	p.Add("SET", "k", "v")
	p.Add("CLIENT", "INFO")
	replies, err := c.DoPipeline(ctx, &p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(replies[1].Str, " db=2 ") {
		t.Fatalf("CLIENT INFO over TLS: %q", replies[1].Str)
	}
	s, events := subscriber(t, o)
	waitFor(t, events, resp.EventConnected)
	if err := s.Subscribe(ctx, "secure"); err != nil {
		t.Fatal(err)
	}
	plain := newClient(t, resp.Options{Addr: srv.Addr(), Password: "pw"})
	publish(t, plain, "secure", "hello")
	if ev := waitFor(t, events, resp.EventMessage); ev.Payload != "hello" {
		t.Fatalf("got %+v", ev)
	}
}
