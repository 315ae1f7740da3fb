package sipws

import "testing"

// TestAnswerDirection: the answer to a re-INVITE agrees with the offer's
// direction (RFC 3264 section 6.1), whatever the WebRTC leg wrote.
func TestAnswerDirection(t *testing.T) {
	const answer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n"
	for _, tc := range []struct {
		name, offer, want string
	}{
		{"hold", "m=audio 9 X 111\r\na=sendonly\r\n", "a=recvonly"},
		{"inactive", "m=audio 9 X 111\r\na=inactive\r\n", "a=inactive"},
		{"resume", "m=audio 9 X 111\r\na=sendrecv\r\n", "a=sendrecv"},
		{"no attribute", "m=audio 9 X 111\r\n", "a=sendrecv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := answerDirection(answer, offerDirection(tc.offer))
			if offerDirection(got) != tc.want[2:] {
				t.Errorf("answer to %s says %s, want %s:\n%s", tc.name, offerDirection(got), tc.want, got)
			}
		})
	}
}

// TestCallerInINVITE: a caller's number and name from the trunk cannot
// add a header or a parameter to the INVITE the client gets.
func TestCallerInINVITE(t *testing.T) {
	for _, tc := range []struct {
		number string
		ok     bool
	}{{"+15551230000", true}, {"anonymous", true}, {"1>;x\r\nEvil: 1", false}, {"", false}, {"a b", false}} {
		if got := safeUser(tc.number); got != tc.ok {
			t.Errorf("safeUser(%q) = %v, want %v", tc.number, got, tc.ok)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"Bob Caller", `"Bob Caller"`},
		{"Bo\"b\\\r\nEvil: 1", `"Bo\"b\\Evil: 1"`},
		{"\x00\x01", ""},
		{"", ""},
	} {
		if got := quotedName(tc.name); got != tc.want {
			t.Errorf("quotedName(%q) = %s, want %s", tc.name, got, tc.want)
		}
	}
}
