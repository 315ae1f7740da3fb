package signaling

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// protocolDoc is the specification for client authors.
const protocolDoc = "../../docs/protocol.md"

// TestProtocolDocCoversEverything checks that the specification names every
// message type, error code and hang-up reason of this package, and that each
// JSON example in it is a valid message of one direction.
func TestProtocolDocCoversEverything(t *testing.T) {
	raw, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatalf("read the protocol specification: %v", err)
	}
	doc := string(raw)
	var names []string
	for _, c := range Codes() {
		names = append(names, "| `"+string(c)+"` |")
	}
	for _, r := range Reasons() {
		names = append(names, "| `"+string(r)+"` |")
	}
	for _, n := range names {
		if !strings.Contains(doc, n) {
			t.Errorf("specification lacks %q", n)
		}
	}
	// Every message type has a section: "### dial", "### hold / resume",
	// "### hangup (client to server)".
	headed := map[string]bool{}
	for line := range strings.SplitSeq(doc, "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			for _, word := range strings.Fields(h) {
				headed[word] = true
			}
		}
	}
	for _, decoders := range []map[Type]decodeFunc{clientDecoders, serverDecoders} {
		for typ := range decoders {
			if !headed[string(typ)] {
				t.Errorf("specification has no section for message %q", typ)
			}
		}
	}

	examples := 0
	inJSON := false
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```json":
			inJSON = true
		case line == "```":
			inJSON = false
		case inJSON:
			examples++
			checkExample(t, line)
		}
	}
	if examples < 20 {
		t.Fatalf("found %d JSON examples, want one per message", examples)
	}
}

// checkExample decodes one example with the client decoder, or the server
// decoder for server messages. Examples abbreviate SDP bodies, so an error
// about the sdp member alone is accepted.
func checkExample(t *testing.T, line string) {
	t.Helper()
	_, err := Decode([]byte(line))
	if err == nil {
		return
	}
	var derr *DecodeError
	if errors.As(err, &derr) && derr.Field == "sdp" && strings.Contains(line, `...`) {
		return
	}
	if _, serr := DecodeServer([]byte(line)); serr != nil {
		if errors.As(serr, &derr) && derr.Field == "sdp" && strings.Contains(line, `...`) {
			return
		}
		t.Errorf("example %s is neither a client message (%v) nor a server message (%v)", line, err, serr)
	}
}
