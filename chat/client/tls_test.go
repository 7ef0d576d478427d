package client_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/chat/client"
	"ringchat/internal/chattest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key to
// dir, as PEM files, the way -tls-cert and -tls-key take them.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ringchat test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
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
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

// The server over TLS (https:// and wss://, as -tls-cert and -tls-key
// serve it) with the terminal client: a self-signed certificate is accepted
// only with InsecureSkipVerify (-insecure), and refused with a clear error
// otherwise.
func TestTLS(t *testing.T) {
	certFile, keyFile := selfSigned(t, t.TempDir())
	url := chattest.StartTLS(t, nil, chat.Options{}, certFile, keyFile).URL()

	var out bytes.Buffer
	err := client.Run(context.Background(), client.Config{URL: url, Name: "secure", InsecureSkipVerify: true,
		In: strings.NewReader("over tls\n"), Out: &out, Location: time.UTC})
	if err != nil || !strings.Contains(out.String(), "secure: over tls") {
		t.Fatalf("with -insecure: %v\n%s", err, out.String())
	}

	out.Reset()
	err = client.Run(context.Background(), client.Config{URL: url, Name: "careful",
		In: strings.NewReader("hi\n"), Out: &out, Location: time.UTC})
	if err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("without -insecure: %v, want a certificate error", err)
	}
}
