// Package integration holds Webtrunk's end-to-end tests: the real gateway
// runs in-process on 127.0.0.1 ephemeral ports between a fake SIP trunk
// (built on sipgo, speaking plain RTP with G.711 and RFC 4733
// telephone-events) and a fake browser (a WebSocket client of the signaling
// protocol of docs/protocol.md and a pion PeerConnection sending Opus).
//
// Every test asserts what a user would notice: each party sends its own tone
// (440 Hz from the browser, 1000 Hz from the trunk) and hears the other's,
// digits arrive, and every way of hanging up ends both legs with the right
// reason. The package has no exported API; run it with plain go test.
package integration
