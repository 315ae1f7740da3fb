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
