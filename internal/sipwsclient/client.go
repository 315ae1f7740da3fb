// Package sipwsclient is the test kit's SIP over WebSocket client (RFC
// 7118): raw SIP messages over one WebSocket, responses and requests read
// in order, and digest answers to challenges (RFC 3261 section 22), for
// tests of the gateway's front door with input real libraries never send.
package sipwsclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// waitTimeout bounds waiting for one message.
const waitTimeout = 10 * time.Second

// Client is one WebSocket with subprotocol sip.
type Client struct {
	tb   testing.TB
	ws   *websocket.Conn
	Host string // our Via and Contact host, a .invalid name
	seq  atomic.Uint32
}

// Dial connects to url (ws://host:port/path) with subprotocol sip; the
// connection is closed by tb.Cleanup.
func Dial(tb testing.TB, url string) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"sip"}}) //nolint:bodyclose // the library closes it
	if err != nil {
		tb.Fatalf("sipwsclient: dial %s: %v", url, err)
	}
	ws.SetReadLimit(1 << 20)
	tb.Cleanup(func() { _ = ws.CloseNow() })

	return &Client{tb: tb, ws: ws, Host: "client" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10) + ".invalid"}
}

// Send writes one raw message.
func (c *Client) Send(text string) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		c.tb.Fatalf("sipwsclient: write: %v", err)
	}
}

// Read returns the next message, or the error that ended the connection
// (its close status with websocket.CloseStatus).
func (c *Client) Read() (sipmsg.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}

	return sipmsg.ParseMessage(data)
}

// Response returns the next message, which must be a response other than
// 100 Trying.
func (c *Client) Response() *sipmsg.Response {
	c.tb.Helper()
	for {
		m, err := c.Read()
		if err != nil {
			c.tb.Fatalf("sipwsclient: waiting for a response: %v", err)
		}
		res, ok := m.(*sipmsg.Response)
		if !ok {
			c.tb.Fatalf("sipwsclient: got %s, want a response", strings.SplitN(m.String(), "\r\n", 2)[0])
		}
		if res.StatusCode != 100 {
			return res
		}
	}
}

// Request is a request to build: Method, URI and the To user; Headers
// are more "Name: value" lines; Body is sent as application/sdp.
type Request struct {
	Method, URI, From, CallID string
	Headers                   []string
	Body                      string
}

// Build returns the request's text with a fresh branch and CSeq, From
// tag "t1" and the Call-ID given (a fresh one when empty).
func (c *Client) Build(r Request) string {
	seq := c.seq.Add(1)
	if r.CallID == "" {
		r.CallID = "call" + strconv.Itoa(int(seq)) + "@" + c.Host
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", r.Method, r.URI)
	fmt.Fprintf(&b, "Via: SIP/2.0/WS %s;branch=z9hG4bK%d%d\r\n", c.Host, seq, time.Now().UnixNano()%1e9)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <%s>;tag=t1\r\n", r.From)
	to := r.URI
	if r.Method == "REGISTER" {
		to = r.From
	}
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.CallID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", seq, r.Method)
	fmt.Fprintf(&b, "Contact: <sip:c@%s;transport=ws>\r\n", c.Host)
	for _, h := range r.Headers {
		b.WriteString(h + "\r\n")
	}
	if r.Body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(r.Body), r.Body)

	return b.String()
}

// ErrNoChallenge is returned by Authorization for a response without a
// digest challenge.
var ErrNoChallenge = errors.New("sipwsclient: no digest challenge")

// Authorization answers the challenge of a 401 or 407 (the challenge
// header with algorithm alg, or the first) for method and uri, and returns
// the header line to add: Authorization or Proxy-Authorization.
func Authorization(res *sipmsg.Response, alg, method, uri, user, password string) (string, error) {
	name, out := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		name, out = "Proxy-Authenticate", "Proxy-Authorization"
	}
	for _, h := range res.GetHeaders(name) {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil || (alg != "" && !strings.EqualFold(chal.Algorithm, alg)) {
			continue
		}
		cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: password})
		if err != nil {
			return "", err
		}

		return out + ": " + cred.String(), nil
	}

	return "", ErrNoChallenge
}

// Close closes the WebSocket with 1000.
func (c *Client) Close() error { return c.ws.Close(websocket.StatusNormalClosure, "") }
