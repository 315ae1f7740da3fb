package turnserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"

	"github.com/pion/stun/v4"
)

// The credential gate answers requests whose credentials fail with 401
// Unauthorized (RFC 8489 section 9.2.4, RFC 8656 section 7), before pion,
// which would answer 400 Bad Request. Everything else passes unchanged.

// TURN framing over TCP (RFC 8656 section 12.5).
const (
	stunHeaderSize        = 20
	channelDataHeaderSize = 4
	maxFrame              = stunHeaderSize + 0xffff + 3
)

// errBadFrame is a stream that is neither STUN nor ChannelData.
var errBadFrame = errors.New("turnserver: not a TURN frame")

// screen checks one message from a client. It returns drop when the
// message must not reach pion, with the 401 response to send in its
// place.
func (srv *Server) screen(b []byte) (reply []byte, drop bool) {
	if !stun.IsMessage(b) {
		return nil, false // ChannelData
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil || m.Type.Class != stun.ClassRequest || !m.Contains(stun.AttrMessageIntegrity) {
		return nil, false
	}
	var username stun.Username
	var realm stun.Realm
	var nonce stun.Nonce
	if username.GetFrom(m) != nil || realm.GetFrom(m) != nil || nonce.GetFrom(m) != nil {
		return nil, false
	}
	_, _, err := ParseUsername(username.String(), srv.now())
	if errors.Is(err, ErrExpired) && m.Type.Method != stun.MethodAllocate {
		err = nil
	}
	why := "bad username"
	if errors.Is(err, ErrExpired) {
		why = "expired"
	}
	if err == nil {
		if stun.NewLongTermIntegrity(username.String(), realm.String(), Password(srv.s.Secret, username.String())).Check(m) == nil {
			return nil, false
		}
		why = "wrong password"
	}
	srv.badCreds.Add(1)
	srv.log.Info("turn request refused: 401", "reason", why, "method", m.Type.Method.String())
	resp, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		stun.CodeUnauthorized, stun.NewRealm(srv.s.Realm), nonce, stun.Fingerprint)
	if err != nil {
		return nil, true
	}

	return resp.Raw, true
}

// gatedPacketConn screens the datagrams of turn: over UDP.
type gatedPacketConn struct {
	net.PacketConn
	srv *Server
}

// ReadFrom returns the next datagram that passes the gate.
func (c *gatedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		reply, drop := c.srv.screen(b[:n])
		if !drop {
			return n, addr, nil
		}
		if reply != nil {
			_, _ = c.WriteTo(reply, addr)
		}
	}
}

// gatedListener screens the streams of turn: over TCP and turns:.
type gatedListener struct {
	net.Listener
	srv *Server
}

// Accept returns the next connection, gated.
func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	gc := &gatedConn{Conn: c, srv: l.srv, r: bufio.NewReader(c)}
	if !l.srv.track(gc) {
		_ = c.Close()

		return nil, net.ErrClosed
	}

	return gc, nil
}

// track records an open TCP or TLS connection, so that Close ends it:
// pion closes its listeners but not the connections they accepted. It
// reports false once the server is closed.
func (srv *Server) track(c *gatedConn) bool {
	srv.connsMu.Lock()
	defer srv.connsMu.Unlock()
	if srv.conns == nil {
		return false
	}
	srv.conns[c] = struct{}{}

	return true
}

// closeConns closes every tracked connection and tracks no more.
func (srv *Server) closeConns() {
	srv.connsMu.Lock()
	conns := srv.conns
	srv.conns = nil
	srv.connsMu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// Close closes the connection and forgets it.
func (c *gatedConn) Close() error {
	c.srv.connsMu.Lock()
	delete(c.srv.conns, c)
	c.srv.connsMu.Unlock()

	return c.Conn.Close()
}

// gatedConn splits a TURN stream into frames (STUN messages and padded
// ChannelData) and passes on those that pass the gate.
type gatedConn struct {
	net.Conn
	srv     *Server
	r       *bufio.Reader
	frame   []byte
	pending []byte
}

// Read returns bytes of the frames that passed the gate.
func (c *gatedConn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		f, err := c.readFrame()
		if err != nil {
			return 0, err
		}
		reply, drop := c.srv.screen(f)
		if !drop {
			c.pending = f

			break
		}
		if reply != nil {
			if _, err := c.Write(reply); err != nil {
				return 0, err
			}
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]

	return n, nil
}

// readFrame reads one whole frame into the connection's buffer.
func (c *gatedConn) readFrame() ([]byte, error) {
	hdr, err := c.r.Peek(channelDataHeaderSize)
	if err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint16(hdr[2:4]))
	switch hdr[0] & 0xc0 {
	case 0: // STUN: the two first bits are zero (RFC 8489 section 5)
		size += stunHeaderSize
	case 0x40: // ChannelData, channel numbers 0x4000-0x7FFF
		size = channelDataHeaderSize + (size+3)&^3
	default:
		return nil, errBadFrame
	}
	if cap(c.frame) < size {
		c.frame = make([]byte, size, maxFrame)
	}
	c.frame = c.frame[:size]
	if _, err := io.ReadFull(c.r, c.frame); err != nil {
		return nil, err
	}

	return c.frame, nil
}
