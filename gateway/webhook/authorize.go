package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// AuthRequest is the body the dial authorisation hook receives: an
// outbound dial about to be sent to a trunk.
type AuthRequest struct {
	CallID    string `json:"call_id"`
	User      string `json:"user"`
	ToDialled string `json:"to_dialled"`
	// To and From are E.164: the routed number and the caller ID.
	To    string `json:"to"`
	From  string `json:"from"`
	Trunk string `json:"trunk"`
}

// Decision is the hook's answer: allow or not, a reason for a denial
// (shown to the browser), and an optional rewritten number or caller ID
// (E.164).
type Decision struct {
	Allow  bool   `json:"allow"`
	Reason string `json:"reason,omitempty"`
	To     string `json:"to,omitempty"`
	From   string `json:"from,omitempty"`
}

// Authorizer asks a backend whether an outbound dial may go ahead.
type Authorizer struct {
	// URL receives the signed POST of an AuthRequest.
	URL string
	// Secret keys the signature (SignatureHeader), as for events.
	Secret []byte
	// Timeout bounds the question; past it, or on any failure, the
	// decision is Default.
	Timeout time.Duration
	// Default is the decision when the backend does not answer in time
	// or answers anything but 200 with a Decision.
	Default Decision
	// Client sends the requests; nil: http.DefaultClient.
	Client *http.Client
}

// Authorize asks the backend about req. It returns the backend's
// decision, or Default with the reason the backend could not decide.
func (a *Authorizer) Authorize(ctx context.Context, req AuthRequest) (Decision, error) {
	d, err := a.ask(ctx, req)
	if err != nil {
		return a.Default, err
	}

	return d, nil
}

func (a *Authorizer) ask(ctx context.Context, req AuthRequest) (Decision, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Decision{}, fmt.Errorf("webhook: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, bytes.NewReader(body))
	if err != nil {
		return Decision{}, fmt.Errorf("webhook: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "Webtrunk")
	hr.Header.Set(SignatureHeader, Sign(a.Secret, time.Now(), body))
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(hr)
	if err != nil {
		return Decision{}, fmt.Errorf("webhook: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))

		return Decision{}, fmt.Errorf("%w %d", errStatus, res.StatusCode)
	}
	var d Decision
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&d); err != nil {
		return Decision{}, fmt.Errorf("webhook: decision: %w", err)
	}

	return d, nil
}
