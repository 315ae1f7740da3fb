package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// DTMF digits carried by SIP INFO inside a call's dialog (RFC 6086, with the legacy bodies
// carriers use): application/dtmf-relay ("Signal=5" and "Duration=250" lines) and
// application/dtmf (the digit alone).

// DTMFInfoType is the body type of the INFO requests that send digits to a trunk
// (Trunk.DTMFInfo).
type DTMFInfoType string

const (
	// DTMFInfoRelay is application/dtmf-relay: "Signal=<digit>" and "Duration=<ms>" lines. It
	// is the default ("").
	DTMFInfoRelay DTMFInfoType = "dtmf-relay"
	// DTMFInfoPlain is application/dtmf: the digit alone.
	DTMFInfoPlain DTMFInfoType = "dtmf"
)

// Media types of DTMF INFO bodies.
const (
	contentDTMFRelay = "application/dtmf-relay"
	contentDTMF      = "application/dtmf"
)

// Bounds of a digit's duration in an INFO body, milliseconds.
const (
	minInfoDuration = 40
	maxInfoDuration = 10000
	// DefaultInfoDuration is the Duration an INFO digit from the trunk has when its body gives
	// none.
	DefaultInfoDuration = 250 * time.Millisecond
)

// ErrBadDigit is returned by Call.SendDigit for a rune that is not a DTMF character
// ("0"-"9", "*", "#", "A"-"D").
var ErrBadDigit = errors.New("sip: not a DTMF digit")

// errBadInfoBody is an INFO body of a DTMF type that cannot be read.
var errBadInfoBody = errors.New("sip: malformed DTMF INFO body")

// SendDigit sends one DTMF digit ('0'-'9', '*', '#', 'A'-'D') to the trunk in a SIP INFO
// inside the established dialog (RFC 6086 section 4.2) with the trunk's DTMFInfoType body and,
// for dtmf-relay, duration rounded to whole milliseconds (clamped to 40 ms..10 s), and waits
// for the final response. Errors: ErrBadDigit, ErrNotEstablished, ErrCallEnded, a *StatusError for a failure response, ErrNoResponse after Timer F (64*T1),
// context.Cause(ctx).
func (c *Call) SendDigit(ctx context.Context, digit rune, duration time.Duration) error {
	d, ok := normalDigit(digit)
	if !ok {
		return fmt.Errorf("%w: %q", ErrBadDigit, digit)
	}
	if err := c.established(); err != nil {
		return err
	}
	ms := min(max(int(duration/time.Millisecond), minInfoDuration), maxInfoDuration)
	req := c.dialog.newRequest(sipmsg.INFO)
	body := "Signal=" + string(d) + "\r\nDuration=" + strconv.Itoa(ms) + "\r\n"
	ctype := contentDTMFRelay
	if c.trunk.DTMFInfo == DTMFInfoPlain {
		body, ctype = string(d)+"\r\n", contentDTMF
	}
	req.AppendHeader(sipmsg.NewHeader("Content-Type", ctype))
	req.SetBody([]byte(body))
	return c.inDialogRequest(ctx, req)
}

// normalDigit returns the DTMF character of r, upper case, and false when r is none.
func normalDigit(r rune) (rune, bool) {
	switch {
	case r >= '0' && r <= '9', r == '*', r == '#':
		return r, true
	case r >= 'A' && r <= 'D':
		return r, true
	case r >= 'a' && r <= 'd':
		return r - 'a' + 'A', true
	}
	return 0, false
}

// mediaType returns the media type of a Content-Type value, lower case and without parameters.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// parseDigitInfo reads the digit and its duration from a DTMF INFO body of media type mt:
// application/dtmf-relay ("Signal=" with a digit, or 10 and 11 for '*' and '#', and an
// optional "Duration=" in milliseconds, lines in any order, names case-insensitive) or
// application/dtmf (the digit alone, or its RFC 4733 event code 0-15). It wraps
// errBadInfoBody for anything else.
func parseDigitInfo(mt string, body []byte) (rune, time.Duration, error) {
	text := strings.TrimSpace(string(body))
	if mt == contentDTMF {
		d, ok := signalDigit(text)
		if !ok {
			return 0, 0, fmt.Errorf("%w: %q is not a digit", errBadInfoBody, text)
		}
		return d, DefaultInfoDuration, nil
	}
	var digit rune
	dur := DefaultInfoDuration
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return 0, 0, fmt.Errorf("%w: line %q", errBadInfoBody, line)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "signal":
			d, ok := signalDigit(value)
			if !ok || digit != 0 {
				return 0, 0, fmt.Errorf("%w: Signal %q", errBadInfoBody, value)
			}
			digit = d
		case "duration":
			ms, err := strconv.Atoi(value)
			if err != nil || ms < 1 || ms > maxInfoDuration {
				return 0, 0, fmt.Errorf("%w: Duration %q", errBadInfoBody, value)
			}
			dur = time.Duration(ms) * time.Millisecond
		}
	}
	if digit == 0 {
		return 0, 0, fmt.Errorf("%w: no Signal", errBadInfoBody)
	}
	return digit, dur, nil
}

// signalDigit reads a digit written as its character or as its RFC 4733 event code (0-15).
func signalDigit(s string) (rune, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 15 {
			return 0, false
		}
		return rune("0123456789*#ABCD"[n]), true
	}
	if len(s) != 1 {
		return 0, false
	}
	return normalDigit(rune(s[0]))
}

// onInfo answers an INFO of the trunk inside the dialog (RFC 6086 section 4.2): a DTMF body
// (application/dtmf-relay or application/dtmf) is answered 200 and reported as EventDigit; a
// malformed one gets 400, any other body type 415 with Accept (RFC 6086 section 4.2.2), and
// neither touches the call; an INFO without a body gets 200.
func (c *Call) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.dialog.acceptCSeq(req, tx) {
		return
	}
	if len(req.Body()) == 0 {
		c.ua.respond(tx, req, 200, "OK")
		return
	}
	mt := mediaType(headerValue(req, "Content-Type"))
	if mt != contentDTMFRelay && mt != contentDTMF {
		c.log.Info("sip INFO with an unsupported body refused", "content_type", mt)
		c.ua.respond(tx, req, 415, "Unsupported Media Type", sipmsg.NewHeader("Accept", contentDTMFRelay+", "+contentDTMF))
		return
	}
	digit, dur, err := parseDigitInfo(mt, req.Body())
	if err != nil {
		c.log.Info("sip INFO with a malformed DTMF body refused", "error", err)
		c.ua.respond(tx, req, 400, "Bad Request", warning(c.ua.cfg.PublicHost, err))
		return
	}
	// Reported before the 200, which frees the trunk to send its next digit: INFOs are
	// handled concurrently, and the digits must reach the call in the order they were sent.
	c.emit(DialogEvent{Kind: EventDigit, Digit: digit, Duration: dur})
	c.ua.respond(tx, req, 200, "OK")
}
