# Shortcuts for developers; the README's two commands are scripts/run.sh and
# scripts/test.sh, which need nothing but Go and a Debian-like system.

.PHONY: run test build bench lint fmt release

# VERSION names a release: the git tag when HEAD has one, else the commit
# (with -dirty for uncommitted changes). COMMIT is the full revision.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
GOOS    ?= $(shell go env GOOS)
GOARCH  ?= $(shell go env GOARCH)
DIST    ?= dist
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

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

# release builds the gateway and the echo peer for this platform (cgo with
# libopus: build on each target platform, or in the Dockerfile) into
# $(DIST)/, named with the version, with SHA-256 sums, and prints the
# gateway's -version.
release:
	mkdir -p $(DIST)
	CGO_ENABLED=1 go build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/webtrunk-gateway-$(VERSION)-$(GOOS)-$(GOARCH) ./cmd/gateway
	CGO_ENABLED=1 go build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/webtrunk-echo-$(VERSION)-$(GOOS)-$(GOARCH) ./cmd/echo
	cd $(DIST) && sha256sum webtrunk-*-$(VERSION)-$(GOOS)-$(GOARCH) > SHA256SUMS-$(VERSION)-$(GOOS)-$(GOARCH)
	$(DIST)/webtrunk-gateway-$(VERSION)-$(GOOS)-$(GOARCH) -version
