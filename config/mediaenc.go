package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/webtrunk/webtrunk/telephony"
)

// MediaEncryption is how a trunk's media is protected (Trunk.MediaEncryption).
type MediaEncryption string

const (
	// MediaEncryptionNone is plain RTP/AVP: an offer of RTP/SAVP is refused
	// with 488 and a=crypto lines are ignored. It is the default.
	MediaEncryptionNone MediaEncryption = "none"
	// MediaEncryptionSDES requires SRTP (RFC 3711) keyed by SDES (RFC 4568):
	// offers are RTP/SAVP with a=crypto lines for AES_CM_128_HMAC_SHA1_80
	// and _32, and an offer or answer without an acceptable a=crypto line
	// is refused (488, or the call ends with BYE). Needs transport tls.
	MediaEncryptionSDES MediaEncryption = "sdes"
	// MediaEncryptionSDESOptional uses SRTP when the trunk accepts it and
	// plain RTP otherwise: offers are RTP/AVP with the same a=crypto lines,
	// an answer without a=crypto keeps plain RTP, and offers are accepted
	// with or without keys (RTP/SAVP only with them). Needs transport tls.
	MediaEncryptionSDESOptional MediaEncryption = "sdes_optional"
)

// errNoPEMCertificate is wrapped by SIPConfig.TrunkRoots for a file
// without any PEM certificate.
var errNoPEMCertificate = errors.New("config: no PEM certificate")

// validateMediaEncryption reports a trunk's media_encryption problems under
// path: an unknown value, or SDES over a transport other than tls, which
// would send the SRTP keys in clear text (RFC 4568 section 8.3).
func validateMediaEncryption(p *problems, path string, t *Trunk) {
	switch t.MediaEncryption {
	case "", MediaEncryptionNone: // "" in a configuration built in code: none
	case MediaEncryptionSDES, MediaEncryptionSDESOptional:
		if t.Transport != telephony.TransportTLS {
			p.add(path+".media_encryption", fmt.Sprintf("%s needs transport tls: SDES keys travel in the SDP (RFC 4568 section 8.3), transport is %s", t.MediaEncryption, t.Transport))
		}
	default:
		checkOneOf(p, path+".media_encryption", t.MediaEncryption, MediaEncryptionNone, MediaEncryptionSDES, MediaEncryptionSDESOptional)
	}
}

// validateTLSCAFile checks sip.tls_ca_file: empty, or a readable file with
// at least one PEM certificate.
func validateTLSCAFile(p *problems, name string) {
	if name == "" {
		return
	}
	const path = "sip.tls_ca_file"
	checkFile(p, path, name)
	data, err := os.ReadFile(name)
	if err != nil {
		return // reported by checkFile
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		p.add(path, fmt.Sprintf("%q holds no PEM certificate", name))
	}
}

// TrunkRoots returns the pool of sip.tls_ca_file that trunks' TLS
// certificates are verified against, or nil (the system's roots) when it is
// empty. It returns an error when the file cannot be read or holds no PEM
// certificate.
func (s *SIPConfig) TrunkRoots() (*x509.CertPool, error) {
	if s.TLSCAFile == "" {
		return nil, nil //nolint:nilnil // nil pool: the system's roots
	}
	data, err := os.ReadFile(s.TLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("config: sip.tls_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("config: sip.tls_ca_file %q: %w", s.TLSCAFile, errNoPEMCertificate)
	}
	return pool, nil
}
