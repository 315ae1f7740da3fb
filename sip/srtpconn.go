package sip

import (
	"errors"
	"fmt"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// errTooLongToProtect is returned by WriteRTP and WriteRTCP for a packet that leaves no room for
// the SRTP authentication tag in the conn's buffer.
var errTooLongToProtect = errors.New("sip: packet too long to protect with srtp")

// srtpOverhead is room after a packet for what protection appends: an authentication tag of
// up to 10 bytes and, for SRTCP, the 4-byte index (RFC 3711 section 3.4), with margin.
const srtpOverhead = 32

// srtpReplayWindow is the replay window of received SRTP and SRTCP packets, in packets
// (RFC 3711 section 3.3.2 asks for at least 64).
const srtpReplayWindow = 128

// srtpContexts are the contexts of one direction, derived from one master key (RFC 3711
// section 4.3): one pion context for SRTP and one for SRTCP, each used by one goroutine only,
// with the header each decodes into so that nothing is allocated per packet.
type srtpContexts struct {
	key     masterKey
	suite   int
	rtp     *srtp.Context
	rtcp    *srtp.Context
	rtpHdr  rtp.Header
	rtcpHdr rtcp.Header
}

// srtpIn unprotects what one peer sends with its master key, SRTP in ReadRTP and SRTCP in the
// RTCP reader.
type srtpIn struct {
	srtpContexts
}

// srtpOut protects what we send with our master key, with one output buffer for SRTP (used by
// WriteRTP) and one for SRTCP (used by WriteRTCP).
type srtpOut struct {
	srtpContexts
	rtpBuf  [rtpBufSize]byte
	rtcpBuf [rtpBufSize]byte
}

// rtpBufSize holds a packet of an Ethernet MTU and what protection appends.
const rtpBufSize = 1500 + srtpOverhead

// newSRTPIn creates the receiving contexts for key, with replay protection.
func newSRTPIn(suite int, key masterKey) (*srtpIn, error) {
	in := &srtpIn{}
	if err := in.init(suite, key, srtpReplayWindow); err != nil {
		return nil, err
	}
	return in, nil
}

// newSRTPOut creates the sending contexts for key.
func newSRTPOut(suite int, key masterKey) (*srtpOut, error) {
	out := &srtpOut{}
	if err := out.init(suite, key, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// init creates the SRTP and the SRTCP context for key of suite, with a replay window of
// replayWindow packets each (RFC 3711 section 3.3.2), none when it is 0.
func (d *srtpContexts) init(suite int, key masterKey, replayWindow uint) error {
	profile := cryptoSuites[suite].profile
	k, salt := key[:16], key[16:]
	var rtpOpts, rtcpOpts []srtp.ContextOption
	if replayWindow > 0 {
		rtpOpts = []srtp.ContextOption{srtp.SRTPReplayProtection(replayWindow)}
		rtcpOpts = []srtp.ContextOption{srtp.SRTCPReplayProtection(replayWindow)}
	}
	var err error
	if d.rtp, err = srtp.CreateContext(k, salt, profile, rtpOpts...); err != nil {
		return fmt.Errorf("sip: srtp context: %w", err)
	}
	if d.rtcp, err = srtp.CreateContext(k, salt, profile, rtcpOpts...); err != nil {
		return fmt.Errorf("sip: srtcp context: %w", err)
	}
	d.key, d.suite = key, suite
	return nil
}

// keyedWith reports whether the contexts were made for key of suite.
func (d *srtpContexts) keyedWith(suite int, key masterKey) bool {
	return d.suite == suite && d.key == key
}

// setSRTP makes the conn protect what it sends with keys.local and unprotect what it receives
// with keys.peer (RFC 3711), or, with nil, send and accept plain RTP. A direction whose suite
// and key are unchanged keeps its contexts (and so its rollover counter and replay window), as
// a re-INVITE that repeats the keys requires (RFC 4568 section 7.1.4). It is safe to call
// while ReadRTP, WriteRTP and the RTCP reader run: each picks up the change at its next packet.
func (c *RTPConn) setSRTP(keys *srtpKeys) error {
	c.srtpMu.Lock()
	defer c.srtpMu.Unlock()
	if keys == nil {
		c.srtpIn.Store(nil)
		c.srtpOut.Store(nil)
		return nil
	}
	if in := c.srtpIn.Load(); in == nil || !in.keyedWith(keys.suite, keys.peer) {
		next, err := newSRTPIn(keys.suite, keys.peer)
		if err != nil {
			return err
		}
		c.srtpIn.Store(next)
	}
	if out := c.srtpOut.Load(); out == nil || !out.keyedWith(keys.suite, keys.local) {
		next, err := newSRTPOut(keys.suite, keys.local)
		if err != nil {
			return err
		}
		c.srtpOut.Store(next)
	}
	return nil
}

// unprotect authenticates and decrypts the SRTP (or, for flowRTCP, SRTCP, RFC 3711 section
// 3.4) packet in buf[:n] in place and returns the length of the plain packet; ok is false when
// it failed (authentication, replay, too short).
func (in *srtpIn) unprotect(buf []byte, n int, f flow) (int, bool) {
	var out []byte
	var err error
	if f == flowRTCP {
		out, err = in.rtcp.DecryptRTCP(buf[:n], buf[:n], &in.rtcpHdr)
	} else {
		out, err = in.rtp.DecryptRTP(buf[:n], buf[:n], &in.rtpHdr)
	}
	if err != nil {
		return 0, false
	}
	return len(out), true
}

// protect encrypts and authenticates an RTP packet (or, for flowRTCP, an RTCP compound packet)
// into the conn's output buffer of f. It fails with errTooLongToProtect for a packet that
// leaves no room for what protection appends.
func (o *srtpOut) protect(b []byte, f flow) ([]byte, error) {
	if len(b) > rtpBufSize-srtpOverhead {
		return nil, fmt.Errorf("%w: %s, %d bytes", errTooLongToProtect, f, len(b))
	}
	var out []byte
	var err error
	if f == flowRTCP {
		out, err = o.rtcp.EncryptRTCP(o.rtcpBuf[:0], b, &o.rtcpHdr)
	} else {
		out, err = o.rtp.EncryptRTP(o.rtpBuf[:0], b, &o.rtpHdr)
	}
	if err != nil {
		return nil, fmt.Errorf("sip: srtp protect %s: %w", f, err)
	}
	return out, nil
}
