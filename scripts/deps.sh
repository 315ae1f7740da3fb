#!/bin/sh
# deps.sh run|test: installs the Debian packages Webtrunk needs when they are
# missing, then downloads the Go modules. "run" is what building and running
# the gateway needs (libopus for the Opus codec through cgo); "test" adds the
# real peers the integration tests drive (sipp, baresip, Chromium, the
# PostgreSQL server of the call record tests) and the tools that generate
# and analyse test audio.
set -eu

run_pkgs="libopus-dev libopusfile-dev pkg-config gcc"
test_pkgs="$run_pkgs sip-tester baresip-core chromium sox espeak-ng iproute2 util-linux postgresql"

case "${1:-}" in
run) pkgs=$run_pkgs ;;
test) pkgs=$test_pkgs ;;
*) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	echo "installing Debian packages:$missing"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

go mod download
