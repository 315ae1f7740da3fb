package sip

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

// MediaEncryption is how a trunk's media is protected (Trunk.MediaEncryption).
type MediaEncryption string

const (
	// EncryptionNone sends and accepts plain RTP/AVP only; an offer of RTP/SAVP is refused with
	// 488 and a=crypto lines on RTP/AVP are ignored. It is the default.
	EncryptionNone MediaEncryption = "none"
	// EncryptionSDES requires SRTP (RFC 3711) keyed by SDES (RFC 4568): offers are RTP/SAVP with
	// a=crypto lines, and an offer or answer without an acceptable a=crypto line is refused
	// (488 for an offer; an answer ends the call). The trunk must use TLS: the keys travel in
	// the SDP (RFC 4568 section 8.3).
	EncryptionSDES MediaEncryption = "sdes"
	// EncryptionSDESOptional uses SRTP when the trunk accepts it and plain RTP otherwise: offers
	// are RTP/AVP with a=crypto lines (the "best effort" convention of many SIP phones), an
	// answer without a=crypto keeps plain RTP; offers are accepted as RTP/SAVP with a=crypto,
	// RTP/AVP with a=crypto (SRTP) or RTP/AVP without (plain RTP). The trunk must use TLS.
	EncryptionSDESOptional MediaEncryption = "sdes_optional"
)

// Valid reports whether e is one of the defined values ("" counts as EncryptionNone).
func (e MediaEncryption) Valid() bool {
	switch e {
	case "", EncryptionNone, EncryptionSDES, EncryptionSDESOptional:
		return true
	}
	return false
}

// enabled reports whether SDES keys are offered and accepted.
func (e MediaEncryption) enabled() bool { return e == EncryptionSDES || e == EncryptionSDESOptional }

// ErrBadCrypto is wrapped by every refusal of an SDP offer or answer for its SRTP keying: an
// a=crypto line that does not parse (RFC 4568 section 9.1), a suite or session parameter we do
// not support where one is needed, an answer naming a tag we did not offer, or, under
// EncryptionSDES, no acceptable a=crypto at all. An offer refused so is answered 488 Not
// Acceptable Here (RFC 4568 section 7.1.2). Its text never contains key material.
var ErrBadCrypto = errors.New("sip: unacceptable sdes crypto")

// cryptoSuite is one SRTP crypto suite of RFC 4568 section 6.2 that this package speaks.
type cryptoSuite struct {
	name    string
	profile srtp.ProtectionProfile
}

// cryptoSuites are the suites offered, in our order of preference (RFC 4568 section 6.2.1):
// AES counter mode with an 80-bit or 32-bit HMAC-SHA1 tag. Both take a 16-byte key and a
// 14-byte salt.
var cryptoSuites = [...]cryptoSuite{
	{name: "AES_CM_128_HMAC_SHA1_80", profile: srtp.ProtectionProfileAes128CmHmacSha1_80},
	{name: "AES_CM_128_HMAC_SHA1_32", profile: srtp.ProtectionProfileAes128CmHmacSha1_32},
}

// suiteByName returns the index in cryptoSuites of a suite name, or -1.
func suiteByName(name string) int {
	for i, s := range cryptoSuites {
		if s.name == name {
			return i
		}
	}
	return -1
}

// masterKeyLen is the length of an inline key of our suites: a 16-byte master key followed by a
// 14-byte master salt (RFC 4568 section 6.2.1), 40 characters of base64.
const masterKeyLen = 30

// masterKey is one SRTP master key and salt, as written in inline: key parameters.
type masterKey [masterKeyLen]byte

// newMasterKey returns a fresh key from crypto/rand, whose Read never returns an error (it
// ends the program when the system's generator fails).
func newMasterKey() masterKey {
	var k masterKey
	_, _ = rand.Read(k[:])
	return k
}

// cryptoAttr is one a=crypto line (RFC 4568 section 9.1) of a suite we speak, with one inline
// key and no MKI.
type cryptoAttr struct {
	tag   int // 1 to 999999999
	suite int // index in cryptoSuites
	key   masterKey
}

// String writes the attribute value: "tag suite inline:key" (it holds the key: never log it).
func (a cryptoAttr) String() string {
	return strconv.Itoa(a.tag) + " " + cryptoSuites[a.suite].name + " inline:" + base64.StdEncoding.EncodeToString(a.key[:])
}

// parseCrypto reads the value of one a=crypto attribute. known is false, with a nil error, for a
// well-formed line we cannot use: a suite we do not speak, an MKI, several keys, or a session
// parameter (RFC 4568 section 6.3: an answerer skips such lines). err wraps ErrBadCrypto for a
// line that does not follow the grammar of RFC 4568 section 9.1 or a key of the wrong length; it
// never quotes the key.
func parseCrypto(value string) (attr cryptoAttr, known bool, err error) {
	fields := strings.Fields(value)
	if len(fields) < 3 {
		return attr, false, fmt.Errorf("%w: a=crypto with %d fields, want tag, suite and key parameters", ErrBadCrypto, len(fields))
	}
	tag, perr := strconv.Atoi(fields[0])
	if perr != nil || tag < 0 || tag > 999999999 || len(fields[0]) > 10 {
		return attr, false, fmt.Errorf("%w: a=crypto tag is not a number of up to 9 digits", ErrBadCrypto)
	}
	attr.tag = tag
	params := fields[2]
	if !strings.HasPrefix(params, "inline:") {
		return attr, false, fmt.Errorf("%w: a=crypto:%d key method is not inline", ErrBadCrypto, tag)
	}
	attr.suite = suiteByName(fields[1])
	if attr.suite < 0 || len(fields) > 3 || strings.Contains(params, ";") {
		return attr, false, nil
	}
	keyText, rest, _ := strings.Cut(strings.TrimPrefix(params, "inline:"), "|")
	key, derr := base64.StdEncoding.DecodeString(keyText)
	if derr != nil {
		return attr, false, fmt.Errorf("%w: a=crypto:%d key is not base64", ErrBadCrypto, tag)
	}
	if len(key) != masterKeyLen {
		return attr, false, fmt.Errorf("%w: a=crypto:%d key and salt of %d bytes, want %d", ErrBadCrypto, tag, len(key), masterKeyLen)
	}
	copy(attr.key[:], key)
	if rest != "" && !acceptLifetimeOnly(rest) {
		return attr, false, nil // an MKI, which we do not use (RFC 4568 section 6.1)
	}
	return attr, true, nil
}

// acceptLifetimeOnly reports whether what follows the key in an inline parameter is a lifetime
// alone ("2^31" or a number, RFC 4568 section 6.1), which we accept and do not enforce: our keys
// are fresh for every call and a call stays far below 2^31 packets.
func acceptLifetimeOnly(rest string) bool {
	if strings.Contains(rest, "|") || strings.Contains(rest, ":") {
		return false
	}
	if exp, ok := strings.CutPrefix(rest, "2^"); ok {
		rest = exp
	}
	_, err := strconv.ParseUint(rest, 10, 64)
	return err == nil
}

// cryptoOffer is what a session description says about SDES keying: the usable a=crypto lines
// in their order, and whether any line was malformed.
type cryptoOffer struct {
	attrs []cryptoAttr
	bad   error // the first malformed line's error, or nil
	any   bool  // at least one a=crypto line, usable or not
}

// readCrypto collects the a=crypto attributes of one m= line.
func readCrypto(media *sdp.MediaDescription) cryptoOffer {
	var out cryptoOffer
	for _, a := range media.Attributes {
		if a.Key != "crypto" {
			continue
		}
		out.any = true
		attr, known, err := parseCrypto(a.Value)
		switch {
		case err != nil && out.bad == nil:
			out.bad = err
		case known:
			out.attrs = append(out.attrs, attr)
		}
	}
	return out
}

// srtpKeys are the SRTP keys of one direction pair: ours protects what we send, the peer's
// what we receive, both for one suite.
type srtpKeys struct {
	suite       int
	local, peer masterKey
}

// chooseOfferCrypto picks the SRTP keys for an offer received from the trunk under enc:
// the first usable a=crypto line (RFC 4568 section 7.1.2, the offerer's preference), paired
// with our key for its suite, and the tag to answer with. keys is nil for plain RTP. It
// returns an error wrapping ErrBadCrypto when enc requires SRTP and no line is usable, when
// the offer is RTP/SAVP without a usable line, or when a line is malformed.
func chooseOfferCrypto(enc MediaEncryption, md MediaDescription, ours *[len(cryptoSuites)]masterKey) (keys *srtpKeys, tag int, err error) {
	if !enc.enabled() {
		return nil, 0, nil
	}
	if md.crypto.bad != nil {
		return nil, 0, md.crypto.bad
	}
	if len(md.crypto.attrs) == 0 {
		if enc == EncryptionSDES || md.Secure {
			return nil, 0, fmt.Errorf("%w: no a=crypto line with a suite of ours (AES_CM_128_HMAC_SHA1_80 or _32) without MKI or session parameters", ErrBadCrypto)
		}
		return nil, 0, nil
	}
	a := md.crypto.attrs[0]
	return &srtpKeys{suite: a.suite, local: ours[a.suite], peer: a.key}, a.tag, nil
}

// chooseAnswerCrypto reads the SRTP keys from the trunk's answer to our offer, which listed sent
// (RFC 4568 section 7.1.3): its one a=crypto line must carry a tag we offered, with the same
// suite. keys is nil for plain RTP, which only EncryptionSDESOptional accepts (and then only
// over RTP/AVP).
func chooseAnswerCrypto(enc MediaEncryption, md MediaDescription, sent []cryptoAttr, ours *[len(cryptoSuites)]masterKey) (*srtpKeys, error) {
	if !enc.enabled() {
		return nil, nil
	}
	if md.crypto.bad != nil {
		return nil, md.crypto.bad
	}
	if !md.crypto.any {
		if enc == EncryptionSDES || md.Secure {
			return nil, fmt.Errorf("%w: the answer has no a=crypto line", ErrBadCrypto)
		}
		return nil, nil
	}
	if len(md.crypto.attrs) != 1 {
		return nil, fmt.Errorf("%w: the answer has %d usable a=crypto lines, want one", ErrBadCrypto, len(md.crypto.attrs))
	}
	a := md.crypto.attrs[0]
	for _, s := range sent {
		if s.tag == a.tag && s.suite == a.suite {
			return &srtpKeys{suite: a.suite, local: ours[a.suite], peer: a.key}, nil
		}
	}
	return nil, fmt.Errorf("%w: the answer's a=crypto:%d does not match an offered tag and suite", ErrBadCrypto, a.tag)
}
