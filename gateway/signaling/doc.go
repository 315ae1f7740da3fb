// Package signaling defines Webtrunk's browser signaling protocol: the JSON
// messages a browser and the gateway exchange over one WebSocket, their
// validation, and their encoding.
//
// The protocol is specified for client authors in docs/protocol.md; this
// package is its reference implementation. Every frame is one UTF-8 JSON
// object (RFC 8259) in a WebSocket text message (RFC 6455 section 5.6) with a
// "type" member naming the message. Member names are case-sensitive; a
// duplicate member, an unknown member, an unknown type or invalid UTF-8 makes
// the whole frame invalid.
//
// The server decodes browser frames with [Decode], which validates every
// field and reports a problem as a [*DecodeError] carrying the protocol
// error [Code] to send back and the offending field. Messages are Go values
// (for example [Dial], [Answer]); [Marshal] and [Encoder] produce their wire
// form. [DecodeServer] decodes the server's messages for Go clients and tests.
//
// SDP bodies are carried verbatim: the browser is always the WebRTC offerer
// (RFC 3264 offer/answer), so a [Dial] or [Accept] carries an offer and an
// [Answer] carries the gateway's answer. ICE candidates follow the
// RTCIceCandidateInit dictionary of the W3C WebRTC specification and the
// candidate-attribute grammar of RFC 8839 section 5.1.
package signaling
