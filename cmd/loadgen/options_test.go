package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string // substring of the error; "" for none
	}{
		{"defaults with a password", []string{"-password", "pw"}, ""},
		{"token instead", []string{"-token", "a.b.c"}, ""},
		{"pcmu", []string{"-password", "pw", "-codec", "pcmu", "-calls", "300", "-rate", "20"}, ""},
		{"no credentials", nil, "-password"},
		{"remote gateway", []string{"-password", "pw", "-url", "ws://192.0.2.1:8080/ws"}, "loopback"},
		{"remote by name", []string{"-password", "pw", "-url", "wss://gateway.example.com/ws"}, "loopback"},
		{"remote metrics", []string{"-password", "pw", "-metrics-url", "http://10.0.0.1/metrics"}, "loopback"},
		{"no metrics", []string{"-password", "pw", "-metrics-url", ""}, ""},
		{"http url for signaling", []string{"-password", "pw", "-url", "http://127.0.0.1:8080/ws"}, "scheme"},
		{"unknown codec", []string{"-password", "pw", "-codec", "g722"}, "codec"},
		{"no calls", []string{"-password", "pw", "-calls", "0"}, "-calls"},
		{"zero rate", []string{"-password", "pw", "-rate", "0"}, "-rate"},
		{"stray argument", []string{"-password", "pw", "extra"}, "unexpected"},
		{"summary without files", []string{"-summary"}, "-summary"},
		{"summary", []string{"-summary", "a.json", "b.json"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if o.summary && len(o.files) != 2 {
					t.Errorf("files %v", o.files)
				}

				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want one mentioning %q", err, tt.err)
			}
		})
	}
	if _, err := parseOptions([]string{"-password", "pw", "-url", "ws://[::1]:8080/ws"}, io.Discard); err != nil {
		t.Errorf("IPv6 loopback refused: %v", err)
	}
	if _, err := parseOptions([]string{"-password", "pw", "-url", "ws://8.8.8.8/ws"}, io.Discard); !errors.Is(err, errLoopback) {
		t.Errorf("error %v is not errLoopback", err)
	}
}

func TestDeadline(t *testing.T) {
	o := &options{calls: 100, rate: 10, setupTimeout: 20 * time.Second, settle: 2 * time.Second, duration: 30 * time.Second}
	// ramp 10 s + 20 + 2 + 30 + 2·5 + 30 s of slack
	if got, want := o.deadline(), 102*time.Second; got != want {
		t.Errorf("deadline %v, want %v", got, want)
	}
}
