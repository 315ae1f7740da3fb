package signaling

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// validator is implemented by every message: validate checks the decoded
// fields and returns nil or a *DecodeError naming the first bad field.
type validator interface {
	validate() *DecodeError
}

func invalid(code Code, field, reason string) *DecodeError {
	return &DecodeError{Code: code, Field: field, Reason: reason}
}

// checkSize requires v, of at most maxLen bytes: an empty v is a bad
// request, a longer one gets code and a reason counting maxLen in unit.
func checkSize(field, v string, maxLen int, code Code, unit string) *DecodeError {
	if v == "" {
		return invalid(CodeBadRequest, field, "required")
	}
	if len(v) > maxLen {
		return invalid(code, field, "longer than "+strconv.Itoa(maxLen)+" "+unit)
	}

	return nil
}

// checkCallID accepts 1 to MaxCallIDSize bytes of ASCII letters, digits and
// "-", "_", ".", ":" (a UUID, a counter, a hash).
func checkCallID(field, v string) *DecodeError {
	if err := checkSize(field, v, MaxCallIDSize, CodeBadRequest, "bytes"); err != nil {
		return err
	}
	if !validCallID(v) {
		return invalid(CodeBadRequest, field, `may contain only ASCII letters, digits and "-_.:"`)
	}

	return nil
}

func validCallID(v string) bool {
	if v == "" || len(v) > MaxCallIDSize {
		return false
	}
	for i := range len(v) {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}

	return true
}

// printable reports whether v is only printable ASCII (0x20 to 0x7E): no
// control character can reach an SDP line or a log line through it.
func printable(v string) bool {
	for i := range len(v) {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}

	return true
}

func validRef(v string) bool { return len(v) <= MaxRefSize && printable(v) }

func checkRef(v string) *DecodeError {
	if !validRef(v) {
		return invalid(CodeBadRequest, "ref", "must be at most "+strconv.Itoa(MaxRefSize)+" bytes of printable ASCII")
	}

	return nil
}

// checkNumber accepts an optional leading "+" followed by 1 to
// MaxNumberSize-1 characters from "0123456789*#". Formatting characters
// (spaces, dashes, parentheses) are the client's to strip.
func checkNumber(field, v string) *DecodeError {
	if err := checkSize(field, v, MaxNumberSize, CodeInvalidNumber, "characters"); err != nil {
		return err
	}
	digits := strings.TrimPrefix(v, "+")
	if digits == "" {
		return invalid(CodeInvalidNumber, field, "has no digits")
	}
	for i := range len(digits) {
		c := digits[i]
		if (c < '0' || c > '9') && c != '*' && c != '#' {
			return invalid(CodeInvalidNumber, field, `may contain only an optional leading "+" and "0123456789*#"`)
		}
	}

	return nil
}

// checkDigits accepts 1 to MaxDigits DTMF digits, the 16 events 0-15 of
// RFC 4733 section 3.2 written "0123456789*#ABCD".
func checkDigits(field, v string, maxDigits int) *DecodeError {
	if v == "" {
		return invalid(CodeBadRequest, field, "required")
	}
	if len(v) > maxDigits {
		return invalid(CodeBadRequest, field, "more than "+strconv.Itoa(maxDigits)+" digits")
	}
	for i := range len(v) {
		if !strings.ContainsRune("0123456789*#ABCD", rune(v[i])) {
			return invalid(CodeBadRequest, field, `may contain only "0123456789*#ABCD"`)
		}
	}

	return nil
}

// checkSDP parses v as an SDP session description (RFC 8866) with pion/sdp
// and requires an active audio media section. An SDP that does not parse is
// a bad request; one without audio can share no codec with the trunk.
func checkSDP(field, v string) *DecodeError {
	if err := checkSize(field, v, MaxSDPSize, CodeBadRequest, "bytes"); err != nil {
		return err
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(v); err != nil {
		return invalid(CodeBadRequest, field, "not a valid session description: "+truncate(err.Error(), 120))
	}
	for _, m := range desc.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			return nil
		}
	}

	return invalid(CodeNoCommonCodec, field, "has no active audio media section")
}

// checkCandidate validates an RTCIceCandidateInit: an empty candidate
// (end of candidates) or a candidate attribute, which must name its media
// section by sdpMid or sdpMLineIndex.
func checkCandidate(field string, c ICECandidate) *DecodeError {
	if len(c.Candidate) > MaxCandidateSize {
		return invalid(CodeBadRequest, field+".candidate", "longer than "+strconv.Itoa(MaxCandidateSize)+" bytes")
	}
	if !printable(c.Candidate) {
		return invalid(CodeBadRequest, field+".candidate", "must be printable ASCII")
	}
	if c.Candidate != "" && !strings.HasPrefix(c.Candidate, "candidate:") {
		return invalid(CodeBadRequest, field+".candidate", `must start with "candidate:"`)
	}
	if c.SDPMid != nil && (len(*c.SDPMid) > MaxCallIDSize || !printable(*c.SDPMid)) {
		return invalid(CodeBadRequest, field+".sdpMid", "must be at most "+strconv.Itoa(MaxCallIDSize)+" bytes of printable ASCII")
	}
	if c.UsernameFragment != nil && (len(*c.UsernameFragment) > 256 || !printable(*c.UsernameFragment)) {
		return invalid(CodeBadRequest, field+".usernameFragment", "must be at most 256 bytes of printable ASCII")
	}
	if c.Candidate != "" && c.SDPMid == nil && c.SDPMLineIndex == nil {
		return invalid(CodeBadRequest, field+".sdpMid", "sdpMid or sdpMLineIndex required")
	}

	return nil
}

func (m Auth) validate() *DecodeError {
	switch {
	case m.Version == 0:
		return invalid(CodeBadRequest, "version", "required")
	case m.Version != Version:
		return invalid(CodeUnsupportedVersion, "version", "server speaks version "+strconv.Itoa(Version))
	case len(m.Token) > MaxTokenSize:
		return invalid(CodeBadRequest, "token", "longer than "+strconv.Itoa(MaxTokenSize)+" bytes")
	case len(m.User) > MaxUserSize:
		return invalid(CodeBadRequest, "user", "longer than "+strconv.Itoa(MaxUserSize)+" bytes")
	case len(m.Password) > MaxPasswordSize:
		return invalid(CodeBadRequest, "password", "longer than "+strconv.Itoa(MaxPasswordSize)+" bytes")
	case m.ResumeToken != "":
		return m.validateResume()
	case m.Token != "" && (m.User != "" || m.Password != ""):
		return invalid(CodeBadRequest, "token", "token excludes user and password")
	case m.Token != "" && !printable(m.Token):
		return invalid(CodeBadRequest, "token", "must be printable ASCII")
	case m.Token == "" && m.User == "" && m.Password == "":
		return invalid(CodeBadRequest, "token", "token, or user and password, required")
	case m.Token == "" && m.User == "":
		return invalid(CodeBadRequest, "user", "required with password")
	case m.Token == "" && m.Password == "":
		return invalid(CodeBadRequest, "password", "required with user")
	}

	return checkRef(m.Ref)
}

// validateResume checks an auth message that carries a resume token: the
// token stands alone, with at most the user it must belong to.
func (m Auth) validateResume() *DecodeError {
	switch {
	case len(m.ResumeToken) > MaxResumeTokenSize || !printable(m.ResumeToken):
		return invalid(CodeBadRequest, "resume_token", "must be at most "+strconv.Itoa(MaxResumeTokenSize)+" bytes of printable ASCII")
	case m.Token != "":
		return invalid(CodeBadRequest, "resume_token", "resume_token excludes token")
	case m.Password != "":
		return invalid(CodeBadRequest, "resume_token", "resume_token excludes password")
	}

	return checkRef(m.Ref)
}

func (m Dial) validate() *DecodeError {
	return firstInvalid(checkCallID("id", m.ID), checkNumber("to", m.To), checkSDP("sdp", m.SDP), checkPrivacy(m.Privacy), checkRef(m.Ref))
}

// checkPrivacy accepts an absent privacy or "id" (RFC 3323 section 4.2).
func checkPrivacy(v string) *DecodeError {
	if v != "" && v != PrivacyID {
		return invalid(CodeBadRequest, "privacy", `must be "id" or absent`)
	}

	return nil
}

func (m Accept) validate() *DecodeError {
	return firstInvalid(checkCallID("call_id", m.CallID), checkSDP("sdp", m.SDP), checkRef(m.Ref))
}

func (m Candidate) validate() *DecodeError {
	return firstInvalid(checkCallID("call_id", m.CallID), checkCandidate("candidate", m.Candidate), checkRef(m.Ref))
}

func (m DTMF) validate() *DecodeError {
	return firstInvalid(checkCallID("call_id", m.CallID), checkDigits("digits", m.Digits, MaxDigits), checkRef(m.Ref))
}

func callAndRef(callID, ref string) *DecodeError {
	return firstInvalid(checkCallID("call_id", callID), checkRef(ref))
}

// firstInvalid returns the first of the checks' results that is a problem,
// nil when none is: the order of the checks is the order fields are
// reported in.
func firstInvalid(checks ...*DecodeError) *DecodeError {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}

	return nil
}

func (m Reject) validate() *DecodeError { return callAndRef(m.CallID, m.Ref) }
func (m Hold) validate() *DecodeError   { return callAndRef(m.CallID, m.Ref) }
func (m Resume) validate() *DecodeError { return callAndRef(m.CallID, m.Ref) }
func (m Hangup) validate() *DecodeError { return callAndRef(m.CallID, m.Ref) }
func (m Ping) validate() *DecodeError   { return checkRef(m.Ref) }

// Server messages are checked for the members a client relies on.

func (m Authenticated) validate() *DecodeError {
	if m.Version != Version {
		return invalid(CodeUnsupportedVersion, "version", "client speaks version "+strconv.Itoa(Version))
	}
	if m.User == "" {
		return invalid(CodeBadRequest, "user", "required")
	}
	if m.MaxCalls < 0 {
		return invalid(CodeBadRequest, "max_calls", "must not be negative")
	}

	return nil
}

func (m Answer) validate() *DecodeError {
	return firstInvalid(checkCallID("call_id", m.CallID), checkSDP("sdp", m.SDP))
}

func (m Ringing) validate() *DecodeError   { return checkCallID("call_id", m.CallID) }
func (m Progress) validate() *DecodeError  { return checkCallID("call_id", m.CallID) }
func (m Connected) validate() *DecodeError { return checkCallID("call_id", m.CallID) }

func (m Incoming) validate() *DecodeError {
	if err := checkCallID("call_id", m.CallID); err != nil {
		return err
	}
	if m.To == "" {
		return invalid(CodeBadRequest, "to", "required")
	}

	return nil
}

func (m DTMFEvent) validate() *DecodeError {
	return firstInvalid(checkCallID("call_id", m.CallID), checkDigits("digit", m.Digit, 1))
}

func (m HangupEvent) validate() *DecodeError {
	if err := checkCallID("call_id", m.CallID); err != nil {
		return err
	}
	if m.Reason == "" {
		return invalid(CodeBadRequest, "reason", "required")
	}
	if m.SIPCode != 0 && (m.SIPCode < 100 || m.SIPCode > 699) {
		return invalid(CodeBadRequest, "sip_code", "must be a SIP status code (100-699)")
	}

	return nil
}

func (m ErrorReply) validate() *DecodeError {
	if m.Code == "" {
		return invalid(CodeBadRequest, "code", "required")
	}

	return nil
}

func (m Pong) validate() *DecodeError { return nil }
