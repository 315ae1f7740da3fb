# Shortcuts for developers; the README's two commands are scripts/run.sh and
# scripts/test.sh, which need nothing but Go and a Debian-like system.

.PHONY: run test build bench lint fmt

run:
	./scripts/run.sh

test:
	./scripts/test.sh

build:
	go build -o bin/ ./cmd/...

bench:
	go test -run '^$$' -bench . -benchmem ./transcode/ ./sip/ ./gateway/...

lint:
	go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
