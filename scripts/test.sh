#!/bin/sh
# test.sh [go test flags]: installs what is missing, checks formatting, runs
# go vet and golangci-lint, then the whole test suite with the race detector
# inside a private network namespace where only 127.0.0.1 exists, so the real
# peers the tests drive (Chromium, sipp, baresip) cannot reach anything else.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh test

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...

# Build every test binary first: the namespace has no network for the
# module proxy.
go test -race -count=1 -run '^$' ./... >/dev/null
GOPROXY=off GOFLAGS=-mod=readonly ./scripts/isolated.sh \
	go test -race -count=1 -timeout 25m "$@" ./...
