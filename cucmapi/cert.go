package cucmapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"selfprov/internal/secretfile"
)

// Files in the data directory that hold the generated certificate.
const (
	CertFile = "https-cert.pem"
	KeyFile  = "https-key.pem"
)

// LoadCertificate returns the HTTPS certificate: the configured PEM files
// when set, else the self-signed one in dataDir, generated there at first
// start (key mode 0600) with hosts (the advertised address and the host
// name) as subject alternative names. generated tells whether it was just
// written.
func LoadCertificate(certFile, keyFile, dataDir string, hosts []string) (cert tls.Certificate, generated bool, err error) {
	if certFile != "" || keyFile != "" {
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, false, fmt.Errorf("cucmapi: https certificate: %w", err)
		}
		return cert, false, nil
	}
	certPath, keyPath := filepath.Join(dataDir, CertFile), filepath.Join(dataDir, KeyFile)
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		if fi, serr := os.Stat(keyPath); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			return tls.Certificate{}, false, fmt.Errorf("cucmapi: key file %s is readable by other users (mode %04o); run chmod 600 %s", keyPath, fi.Mode().Perm(), keyPath)
		}
		return cert, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, false, fmt.Errorf("cucmapi: generated certificate in %s: %w (delete %s and %s to have new ones generated)", dataDir, err, certPath, keyPath)
	}
	certPEM, keyPEM, err := selfSigned(hosts, time.Now())
	if err != nil {
		return tls.Certificate{}, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return tls.Certificate{}, false, fmt.Errorf("cucmapi: %w", err)
	}
	// The key first and exclusively: a second daemon starting at the same
	// moment fails here instead of pairing its certificate with our key.
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, false, err
	}
	if err := writeNew(certPath, certPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return tls.Certificate{}, false, err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	return cert, err == nil, err
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	if err := secretfile.WriteNew(path, data, mode); err != nil {
		return fmt.Errorf("cucmapi: writing %s: %w", path, err)
	}
	return nil
}

// selfSigned makes a P-256 certificate for hosts, valid ten years.
func selfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "selfprov", Organization: []string{"selfprov"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(tmpl.DNSNames) > 0 {
		tmpl.Subject.CommonName = tmpl.DNSNames[0]
	} else if len(tmpl.IPAddresses) > 0 {
		tmpl.Subject.CommonName = tmpl.IPAddresses[0].String()
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
