package sip

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/webtrunk/webtrunk/telephony"
)

// Media is the media state of a call as negotiated by offer/answer (RFC 3264).
type Media struct {
	// Codec is the audio codec in use, with the payload type the trunk uses for it.
	Codec telephony.Codec
	// TelephoneEventPT is the payload type of telephone-event/8000 (RFC 4733); 0 when not negotiated.
	TelephoneEventPT uint8
	// Remote is the trunk's current media description (address, direction, ptime).
	Remote MediaDescription
	// Held is true while the trunk does not receive media: it put the call on hold (a=sendonly,
	// a=inactive or c=0.0.0.0 in its offer), or answered our offer with a=sendonly or a=inactive.
	Held bool
	// LocalHold is true while we hold the trunk: Hold succeeded and Resume has not
	// (RFC 3264 section 8.4).
	LocalHold bool
	// SRTP is the SRTP crypto suite protecting the media (RFC 4568 section 6.2, for example
	// "AES_CM_128_HMAC_SHA1_80"), or "" for plain RTP.
	SRTP string
}

// telephoneEventPT is the dynamic payload type offered for telephone-event/8000 (RFC 4733).
const telephoneEventPT = 101

// mediaSession is the offer/answer side of a call (RFC 3264): our SDP origin (session id and
// version), the last description we sent, the negotiated codec and telephone-event payload
// type, the hold state of both parties, and the RTP socket that follows the trunk's address.
// It knows nothing of SIP messages. All methods are safe for concurrent use.
type mediaSession struct {
	rtp atomic.Pointer[RTPConn] // nil until attach

	mu     sync.Mutex
	params SDPParams // ours: address (set by attach), session id, codecs; version and direction set per use
	closed bool      // close was called: attach refuses

	media   Media
	version uint64 // o= version of the last description we sent
	lastSDP []byte // the last description we sent; nil before the first

	enc  MediaEncryption              // the trunk's media encryption
	keys [len(cryptoSuites)]masterKey // our SRTP master keys, one per suite, fresh per call
	sent []cryptoAttr                 // the a=crypto lines of lastSDP
}

// newMediaSession starts the media of a call offering codecs in that order of preference; the
// o= session id is random. It has no RTP socket until attach.
func newMediaSession(codecs []telephony.Codec, userAgent string, enc MediaEncryption) *mediaSession {
	s := &mediaSession{
		params: SDPParams{
			SessionID:        randUint64() >> 2,
			Codecs:           codecs,
			TelephoneEventPT: telephoneEventPT,
			PtimeMs:          20,
			UserAgent:        userAgent,
		},
		version: 1,
		enc:     enc,
	}
	if enc.enabled() {
		for i := range s.keys {
			s.keys[i] = newMasterKey()
		}
	}
	return s
}

// parse reads a description of the trunk: RTP/SAVP streams count only when the trunk uses SDES.
func (s *mediaSession) parse(body []byte) (MediaDescription, error) {
	return parseSDP(body, s.enc.enabled())
}

// offerCrypto returns the a=crypto lines of our offers: every suite, tags from 1, each with its
// own key (RFC 4568 section 6.1).
func (s *mediaSession) offerCrypto() []cryptoAttr {
	if !s.enc.enabled() {
		return nil
	}
	out := make([]cryptoAttr, len(cryptoSuites))
	for i := range cryptoSuites {
		out[i] = cryptoAttr{tag: i + 1, suite: i, key: s.keys[i]}
	}
	return out
}

// answerParamsLocked returns our parameters for an answer to offer, with the one a=crypto line
// that accepts the offer's chosen one; the caller holds s.mu.
func (s *mediaSession) answerParamsLocked(offer MediaDescription) (SDPParams, error) {
	p := s.paramsLocked()
	keys, tag, err := chooseOfferCrypto(s.enc, offer, &s.keys)
	if err != nil {
		return p, err
	}
	if keys != nil {
		p.crypto = []cryptoAttr{{tag: tag, suite: keys.suite, key: keys.local}}
	}
	return p, nil
}

// attach gives the session its RTP socket, advertised at addr (RFC 4566 section 5.7), before
// any SDP is built. It returns false, after closing rtp, when the session was closed already.
func (s *mediaSession) attach(rtp *RTPConn, addr netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = rtp.Close()
		return false
	}
	s.params.Addr = addr
	s.rtp.Store(rtp)
	return true
}

// attached reports whether attach gave the session its RTP socket.
func (s *mediaSession) attached() bool { return s.rtp.Load() != nil }

// snapshot returns the negotiated media.
func (s *mediaSession) snapshot() Media {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.media
}

// localHold reports whether we hold the trunk.
func (s *mediaSession) localHold() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.media.LocalHold
}

// setLocalHold records that the trunk accepted our hold or resume.
func (s *mediaSession) setLocalHold(hold bool) {
	s.mu.Lock()
	s.media.LocalHold = hold
	s.mu.Unlock()
}

// paramsLocked returns our SDP parameters at the current version; the caller holds s.mu. While
// we hold the trunk we only send (RFC 6337 section 5.3), so answers to its offers say so.
func (s *mediaSession) paramsLocked() SDPParams {
	p := s.params
	p.SessionVersion = s.version
	if s.media.LocalHold {
		p.Direction = SendOnly
	}
	return p
}

// offer builds the first offer of the dialog (RFC 3264 section 5): in our INVITE, or in the 2xx
// to an INVITE without SDP. It becomes the last description sent.
func (s *mediaSession) offer() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.paramsLocked()
	p.crypto = s.offerCrypto()
	p.Secure = s.enc == EncryptionSDES
	body, err := BuildOffer(p)
	s.lastSDP, s.sent = body, p.crypto
	return body, err
}

// answer builds the first answer of the dialog to the trunk's offer in its INVITE (RFC 3264
// section 6). It becomes the last description sent.
func (s *mediaSession) answer(offer MediaDescription) ([]byte, error) {
	return s.buildAnswer(offer, false)
}

// reanswer answers a new offer inside the dialog: the o= version goes one up when the answer
// differs from the last description we sent (RFC 3264 section 8). It becomes the last
// description sent; the offer is not applied (see apply).
func (s *mediaSession) reanswer(offer MediaDescription) ([]byte, error) {
	return s.buildAnswer(offer, true)
}

// buildAnswer builds our answer to offer and makes it the last description sent; with
// newVersion, the o= version goes one up when it differs from the last one we sent.
func (s *mediaSession) buildAnswer(offer MediaDescription, newVersion bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.answerParamsLocked(offer)
	if err != nil {
		return nil, err
	}
	answer, err := BuildAnswer(offer, p)
	if newVersion && err == nil && s.lastSDP != nil && !sameSDP(answer, s.lastSDP) {
		s.version++
		p.SessionVersion = s.version
		answer, err = BuildAnswer(offer, p)
	}
	if err != nil {
		return nil, err
	}
	s.lastSDP, s.sent = answer, p.crypto
	return answer, nil
}

// reoffer returns our description for a new offer inside the dialog: the last one we sent with
// the direction that hold and the trunk's own hold give (RFC 6337 section 5.3: we send unless
// the trunk refuses to receive, we receive unless we hold), the same o= session id, and the o=
// version one higher when anything changed (RFC 3264 section 8). It becomes the last
// description sent.
func (s *mediaSession) reoffer(hold bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reofferLocked(hold)
}

// currentOffer is reoffer with the hold state we are in: our description unchanged, for an
// INVITE or UPDATE of the trunk without an offer.
func (s *mediaSession) currentOffer() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reofferLocked(s.media.LocalHold)
}

func (s *mediaSession) reofferLocked(hold bool) ([]byte, error) {
	dir := directionOf(!s.media.Held, !hold)
	body, err := withDirection(s.lastSDP, dir, s.version)
	if err != nil {
		return nil, err
	}
	if !sameSDP(body, s.lastSDP) {
		s.version++
		if body, err = withDirection(s.lastSDP, dir, s.version); err != nil {
			return nil, err
		}
	}
	s.lastSDP = body
	return body, nil
}

// negotiate picks the codec and telephone-event payload type of a trunk's description from our
// codecs (RFC 3264 section 6.1); ErrNoCommonCodec when none matches.
func (s *mediaSession) negotiate(md MediaDescription) (telephony.Codec, uint8, error) {
	return Negotiate(md, s.params.Codecs)
}

// applyOffer installs the trunk's offer once our answer to it was sent, with the SRTP keys that
// answer accepted (see apply).
func (s *mediaSession) applyOffer(md MediaDescription, codec telephony.Codec, tePT uint8) (old, cur Media, err error) {
	keys, _, err := chooseOfferCrypto(s.enc, md, &s.keys)
	if err != nil {
		return Media{}, Media{}, err
	}
	return s.apply(md, codec, tePT, keys)
}

// apply installs a negotiated description of the trunk and returns the media before and after.
// The RTP socket sends to the new address unless the trunk holds with c=0.0.0.0 (RFC 3264
// section 8.4), which keeps the previous one. Our hold state is kept.
// With keys the RTP socket protects and unprotects the media with SRTP (RFC 3711); with nil it
// carries plain RTP. It fails only when pion cannot build the SRTP contexts.
func (s *mediaSession) apply(md MediaDescription, codec telephony.Codec, tePT uint8, keys *srtpKeys) (old, cur Media, err error) {
	rtp := s.rtp.Load()
	if rtp != nil {
		if err := rtp.setSRTP(keys); err != nil {
			return Media{}, Media{}, err
		}
	}
	s.mu.Lock()
	old = s.media
	held := md.OnHold() || !md.Addr.Addr().IsValid()
	s.media = Media{Codec: codec, TelephoneEventPT: tePT, Remote: md, Held: held, LocalHold: old.LocalHold}
	if keys != nil {
		s.media.SRTP = cryptoSuites[keys.suite].name
	}
	cur = s.media
	s.mu.Unlock()
	if a := md.Addr.Addr(); a.IsValid() && !a.IsUnspecified() && md.Addr.Port() != 0 {
		if rtp != nil {
			rtp.SetRemote(md.Addr, md.RTCPAddr)
		}
	}
	return old, cur, nil
}

// applyAnswer negotiates and applies the trunk's answer to an offer of ours.
func (s *mediaSession) applyAnswer(md MediaDescription) (old, cur Media, err error) {
	codec, tePT, err := s.negotiate(md)
	if err != nil {
		return Media{}, Media{}, err
	}
	s.mu.Lock()
	sent := s.sent
	s.mu.Unlock()
	keys, err := chooseAnswerCrypto(s.enc, md, sent, &s.keys)
	if err != nil {
		return Media{}, Media{}, err
	}
	return s.apply(md, codec, tePT, keys)
}

// close closes the RTP socket, which returns its ports to the pool; a later attach closes its
// socket at once.
func (s *mediaSession) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if rtp := s.rtp.Load(); rtp != nil {
		return rtp.Close()
	}
	return nil
}
