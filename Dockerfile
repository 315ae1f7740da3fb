# syntax=docker/dockerfile:1
# The Webtrunk gateway as a container image: a build stage with Go and the
# libopus headers, and a runtime stage with only the shared libraries the
# binary links (libopus, libopusfile, libogg) and the CA certificates that
# SIP over TLS verifies trunks with, running as an unprivileged user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t webtrunk .
#   docker run --network host -v /etc/webtrunk:/etc/webtrunk:ro webtrunk
#
# Mount the configuration at /etc/webtrunk/webtrunk.yaml; its http.listen
# must include 127.0.0.1:8080 (or 0.0.0.0:8080) for the health check, or
# override HEALTHCHECK. Media ports (sip.rtp, webrtc.udp_listen) are UDP
# ranges: host networking avoids publishing a thousand ports.

ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=bookworm

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus-dev libopusfile-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/webtrunk-gateway ./cmd/gateway \
 && /out/webtrunk-gateway -version

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus0 libopusfile0 libogg0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin webtrunk \
 && mkdir -p /etc/webtrunk
COPY --from=build /out/webtrunk-gateway /usr/local/bin/webtrunk-gateway
COPY config/example.yaml /etc/webtrunk/webtrunk.yaml
USER 10001:10001
# HTTP (signaling, health), SIP, WebRTC media (one UDP port for all calls).
EXPOSE 8080/tcp 5060/udp 50000/udp
HEALTHCHECK --interval=10s --timeout=6s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/webtrunk-gateway", "-healthcheck", "http://127.0.0.1:8080/readyz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/webtrunk-gateway"]
CMD ["-config", "/etc/webtrunk/webtrunk.yaml"]
