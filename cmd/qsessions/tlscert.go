package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The demo's certificate for https://localhost: how long a new one is
// valid, and how much of that must be left for one on file to be reused.
const (
	certLifetime = 90 * 24 * time.Hour
	certMinLeft  = 24 * time.Hour
)

// certPathFor is where the demo keeps the certificate of its database db:
// beside it, demo.db → demo-tls.pem.
func certPathFor(db string) string {
	return strings.TrimSuffix(db, filepath.Ext(db)) + "-tls.pem"
}

// localhostCert returns the self-signed certificate for localhost kept in
// path, with its private key, making and saving a new one (mode 0600) when
// the file is missing or its certificate expires within certMinLeft. A
// file that other users can read is refused: its key would let them serve
// https://localhost as the demo. made reports whether the certificate is
// new.
func localhostCert(path string, now time.Time) (cert tls.Certificate, made bool, err error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return tls.Certificate{}, false, fmt.Errorf("the demo's TLS certificate: %w", err)
	case info.Mode().Perm()&0o077 != 0:
		return tls.Certificate{}, false, fmt.Errorf("the demo's TLS certificate %s is readable by other users (mode %v): chmod 600 it, or delete it to make a new one", path, info.Mode().Perm())
	default:
		cert, err := tls.LoadX509KeyPair(path, path)
		if err != nil {
			return tls.Certificate{}, false, fmt.Errorf("the demo's TLS certificate %s: %w (delete it to make a new one)", path, err)
		}
		if cert.Leaf.NotAfter.Sub(now) >= certMinLeft {
			return cert, false, nil
		}
	}
	pemBytes, err := newLocalhostCert(now)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	// Written beside the file and renamed over it, so that a demo stopped
	// half-way leaves no half-written key behind.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tls-*.pem")
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("the demo's TLS certificate: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(pemBytes)
	if err == nil {
		err = tmp.Chmod(0o600) // CreateTemp makes it 0600; say so
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("the demo's TLS certificate: %w", err)
	}
	cert, err = tls.X509KeyPair(pemBytes, pemBytes)
	return cert, true, err
}

// newLocalhostCert makes a self-signed ECDSA P-256 certificate for
// localhost, 127.0.0.1 and ::1, and returns it and its key in PEM.
func newLocalhostCert(now time.Time) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"qsessions demo"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), nil
}

// spkiHash is what Chromium's --ignore-certificate-errors-spki-list takes
// for cert: the base64 SHA-256 of its SubjectPublicKeyInfo.
func spkiHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// dbscFeatures are the Chromium features that make a browser without a
// TPM (Chromium on Linux, or any Chromium for testing) bind sessions: DBSC
// itself, and software keys in place of the TPM's.
const dbscFeatures = "DeviceBoundSessions,EnableBoundSessionCredentialsSoftwareKeysForManualTesting"

// chromiumCommand is the command line that opens u in a Chromium that
// binds its session to the demo: a fresh profile (the flags apply only to
// a Chromium process of their own), DBSC with software keys, and the
// demo's self-signed certificate accepted by its key's hash. With
// --ignore-certificate-errors instead, Chromium quietly does no DBSC.
func chromiumCommand(cert *x509.Certificate, u string) string {
	return "chromium --user-data-dir=\"$(mktemp -d)\" --enable-features=" + dbscFeatures +
		" --ignore-certificate-errors-spki-list=" + spkiHash(cert) + " " + u
}
