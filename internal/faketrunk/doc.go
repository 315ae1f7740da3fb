// Package faketrunk plays a SIP trunk (a carrier or a PBX) against the code
// under test, on 127.0.0.1 only. It is built directly on sipgo and plain UDP
// sockets, not on the gateway's own sip package, so that it is an
// independent peer and the sip package's own tests can use it.
//
// Every socket is bound on port 0 before its address is handed on (bind
// first, then configure the other side with the bound port): nothing picks
// a port by binding, closing and binding again. Everything is torn down by
// t.Cleanup, and no goroutine outlives the test.
//
// Two levels:
//
//   - Trunk is a user agent with sipgo's transaction and dialog layers, so
//     that retransmissions are absorbed as a real trunk absorbs them. It
//     answers the INVITEs it receives as a Plan says (ring, early media,
//     answer in a codec, reject, digest challenge per RFC 3261 section 22,
//     hang up after a while, or leave the answer to the test), places calls
//     (with CANCEL and BYE), answers re-INVITEs (hold, RFC 3264 section 8.4)
//     and sends its own (a codec change, section 8.3.2), and records every
//     request it received.
//   - Wire is one UDP socket speaking SIP messages without a transaction
//     layer: the test decides exactly what is sent and when, to stage what
//     a well-behaved user agent never does (a 200 crossing a CANCEL, a
//     retransmitted INVITE, a lost ACK). It skips retransmissions of
//     requests it has already handed to the test. A wire at another
//     loopback address (NewWireAt) plays a stranger that resends the
//     trunk's requests from where the trunk is not.
//
// Each call's media is a Media: a G.711 tone sent every 20 ms (RFC 3551),
// RFC 4733 digits on request, and a record of every RTP packet received,
// with its audio decoded and its digits, that tests wait on packet by
// packet (package ear). It is imported only by tests.
package faketrunk
