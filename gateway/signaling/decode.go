package signaling

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DecodeError reports why a frame is not a valid message. Code is the
// protocol error code to answer with; Field is the JSON path of the
// offending member ("to", "candidate.sdpMid"), empty when the problem is the
// whole frame; Reason says what is wrong with it. Type, CallID and Ref are
// taken from the frame when they could be read and are themselves valid, so
// the reply can name the call and echo the ref.
type DecodeError struct {
	Code   Code
	Field  string
	Reason string
	Type   Type
	CallID string
	Ref    string
	// Err is the JSON decoder's error, when the frame was not valid JSON
	// for the message's shape.
	Err error
}

// Error returns "signaling: <code>: <field>: <reason>".
func (e *DecodeError) Error() string {
	return "signaling: " + string(e.Code) + ": " + e.message()
}

// Unwrap returns the JSON decoder's error, if any.
func (e *DecodeError) Unwrap() error { return e.Err }

func (e *DecodeError) message() string {
	if e.Field == "" {
		return e.Reason
	}

	return e.Field + ": " + e.Reason
}

// Reply returns the error message to send to the client.
func (e *DecodeError) Reply() ErrorReply {
	return ErrorReply{Code: e.Code, Message: e.message(), CallID: e.CallID, Ref: e.Ref}
}

// strict rejects members a message does not define. Duplicate members and
// invalid UTF-8 are rejected by the decoder's defaults; member names match
// case-sensitively.
var strict = json.RejectUnknownMembers(true)

// frame is the wire form of a message: the "type" member beside the
// message's own members.
type frame[M Message] struct {
	Type Type `json:"type"`
	Body M    `json:",inline"`
}

type decodeFunc func(data []byte, opts json.Options) (Message, error)

func decodeAs[M Message](data []byte, opts json.Options) (Message, error) {
	var f frame[M]
	if err := json.Unmarshal(data, &f, opts); err != nil {
		return nil, err
	}

	return f.Body, nil
}

var clientDecoders = map[Type]decodeFunc{
	TypeAuth:      decodeAs[Auth],
	TypeDial:      decodeAs[Dial],
	TypeAccept:    decodeAs[Accept],
	TypeReject:    decodeAs[Reject],
	TypeCandidate: decodeAs[Candidate],
	TypeDTMF:      decodeAs[DTMF],
	TypeHold:      decodeAs[Hold],
	TypeResume:    decodeAs[Resume],
	TypeHangup:    decodeAs[Hangup],
	TypePing:      decodeAs[Ping],

	TypeICERestart: decodeAs[ICERestart],
	TypeTransfer:   decodeAs[Transfer],
}

var serverDecoders = map[Type]decodeFunc{
	TypeAuthenticated: decodeAs[Authenticated],
	TypeAnswer:        decodeAs[Answer],
	TypeRinging:       decodeAs[Ringing],
	TypeProgress:      decodeAs[Progress],
	TypeConnected:     decodeAs[Connected],
	TypeIncoming:      decodeAs[Incoming],
	TypeCandidate:     decodeAs[Candidate],
	TypeDTMF:          decodeAs[DTMFEvent],
	TypeHangup:        decodeAs[HangupEvent],
	TypeError:         decodeAs[ErrorReply],
	TypePong:          decodeAs[Pong],
	TypeHeld:          decodeAs[Held],
	TypeReferred:      decodeAs[Referred],
	TypeResumed:       decodeAs[Resumed],
	TypeICERestarted:  decodeAs[ICERestarted],
	TypeICEServers:    decodeAs[ICEServers],
	TypeExtension:     decodeAs[Extension],
	TypeQuality:       decodeAs[Quality],
}

// Decode parses and validates one frame sent by a browser. It returns one
// of the client message types ([Auth], [Dial], [Accept], [Reject],
// [Candidate], [DTMF], [Hold], [Resume], [Hangup], [Ping]) as a value, or a
// *DecodeError whose Code is [CodeBadRequest] (frame over [MaxFrameSize],
// malformed JSON, a missing, unknown, duplicate or invalid member),
// [CodeUnknownType], [CodeUnsupportedVersion] (an auth for another
// protocol version, whatever its other members), [CodeInvalidNumber] (a
// dial to something that is not a number) or [CodeNoCommonCodec] (an offer
// without audio).
func Decode(data []byte) (ClientMessage, error) {
	m, err := decode(data, clientDecoders, strict)
	if err != nil {
		return nil, err
	}
	cm, ok := m.(ClientMessage)
	if !ok { // unreachable: every client decoder yields a ClientMessage
		return nil, &DecodeError{Code: CodeInternal, Reason: "decoded a non-client message"}
	}

	return cm, nil
}

// DecodeServer parses and validates one frame sent by the server, for Go
// clients of the protocol (tests, load generators). It is lenient where the
// protocol asks clients to be: members it does not know are ignored, and
// codes and reasons it does not know are kept as they are.
func DecodeServer(data []byte) (Message, error) {
	return decode(data, serverDecoders, json.RejectUnknownMembers(false))
}

// envelope holds the members read before the message's type is known.
type envelope struct {
	Type    jsontext.Value `json:"type"`
	Ref     jsontext.Value `json:"ref"`
	CallID  jsontext.Value `json:"call_id"`
	ID      jsontext.Value `json:"id"`
	Version jsontext.Value `json:"version"`
	// Candidate is checked here because its zero value (end of
	// candidates) cannot tell an empty object from a missing member.
	Candidate jsontext.Value `json:"candidate"`
}

func decode(data []byte, decoders map[Type]decodeFunc, opts json.Options) (Message, error) {
	if len(data) > MaxFrameSize {
		return nil, &DecodeError{Code: CodeBadRequest, Reason: "frame longer than " + strconv.Itoa(MaxFrameSize) + " bytes"}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &DecodeError{Code: CodeBadRequest, Reason: "empty frame"}
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		derr := jsonError(err)
		derr.Err = err

		return nil, derr
	}
	// From here on, errors name the call and echo the ref when the frame
	// holds valid ones.
	annotate := func(e *DecodeError) *DecodeError {
		if ref, ok := stringValue(env.Ref); ok && validRef(ref) {
			e.Ref = ref
		}
		id := env.CallID
		if e.Type == TypeDial {
			id = env.ID
		}
		if callID, ok := stringValue(id); ok && validCallID(callID) {
			e.CallID = callID
		}

		return e
	}
	typ, ok := stringValue(env.Type)
	if !ok {
		reason := "required"
		if env.Type != nil {
			reason = "must be a string"
		}

		return nil, annotate(&DecodeError{Code: CodeBadRequest, Field: "type", Reason: reason})
	}
	t := Type(typ)
	decodeFn, known := decoders[t]
	if !known {
		return nil, annotate(&DecodeError{
			Code: CodeUnknownType, Field: "type",
			Reason: "unknown message type " + strconv.Quote(truncate(typ, 32)),
		})
	}
	typed := func(e *DecodeError) *DecodeError {
		e.Type = t

		return annotate(e)
	}
	// A client of a later protocol version may send members this version
	// does not know: say that the version is the problem, not the members.
	if t == TypeAuth && env.Version.Kind() == '0' {
		var v int
		if err := json.Unmarshal(env.Version, &v); err == nil && v != Version {
			return nil, typed(invalid(CodeUnsupportedVersion, "version", "server speaks version "+strconv.Itoa(Version)))
		}
	}
	if t == TypeCandidate && env.Candidate.Kind() != '{' {
		return nil, typed(invalid(CodeBadRequest, "candidate", "must be an object"))
	}
	m, err := decodeFn(data, opts)
	if err != nil {
		derr := jsonError(err)
		derr.Err = err

		return nil, typed(derr)
	}
	v, ok := m.(validator)
	if !ok { // unreachable: every message type has a validate method
		return nil, typed(&DecodeError{Code: CodeInternal, Reason: "message without validation"})
	}
	if derr := v.validate(); derr != nil {
		return nil, typed(derr)
	}

	return m, nil
}

// stringValue returns the JSON string in v, if v holds one.
func stringValue(v jsontext.Value) (string, bool) {
	if v.Kind() != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}

	return s, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}

	return s[:n] + "..."
}

// jsonError turns a JSON decoding error into a bad_request naming the
// member at fault.
func jsonError(err error) *DecodeError {
	var serr *json.SemanticError
	if errors.As(err, &serr) {
		field := pointerField(serr.JSONPointer)
		switch {
		case errors.Is(serr.Err, json.ErrUnknownName):
			return &DecodeError{Code: CodeBadRequest, Field: field, Reason: "unknown field"}
		case field == "":
			return &DecodeError{Code: CodeBadRequest, Reason: "frame must be a JSON object"}
		case serr.GoType != nil && serr.JSONKind != 0 && !kindFits(serr.JSONKind, serr.GoType):
			return &DecodeError{Code: CodeBadRequest, Field: field, Reason: "must be " + describeType(serr.GoType)}
		default:
			return &DecodeError{Code: CodeBadRequest, Field: field, Reason: "invalid value for " + describeType(serr.GoType)}
		}
	}
	var sxerr *jsontext.SyntacticError
	if errors.As(err, &sxerr) {
		if errors.Is(sxerr.Err, jsontext.ErrDuplicateName) {
			return &DecodeError{Code: CodeBadRequest, Field: pointerField(sxerr.JSONPointer), Reason: "duplicate member"}
		}

		return &DecodeError{
			Code:   CodeBadRequest,
			Reason: "malformed JSON at byte " + strconv.FormatInt(sxerr.ByteOffset, 10) + ": " + sxerr.Err.Error(),
		}
	}

	return &DecodeError{Code: CodeBadRequest, Reason: "malformed JSON"}
}

// pointerField turns an RFC 6901 JSON pointer ("/candidate/sdpMid") into
// the dotted field path used in error messages ("candidate.sdpMid").
func pointerField(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(truncate(tok, 64))
	}

	return b.String()
}

// kindFits reports whether a JSON value of kind k can decode into t.
func kindFits(k jsontext.Kind, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch k {
	case 'n':
		return true
	case '"':
		return t.Kind() == reflect.String
	case '0':
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			return true
		}

		return false
	case 't', 'f':
		return t.Kind() == reflect.Bool
	case '{':
		return t.Kind() == reflect.Struct || t.Kind() == reflect.Map
	case '[':
		return t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	}

	return false
}

// describeType names the JSON shape a Go type decodes from.
func describeType(t reflect.Type) string {
	if t == nil {
		return "this field"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer up to " + strconv.FormatUint(1<<t.Bits()-1, 10)
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}

	return "a " + t.Kind().String()
}
