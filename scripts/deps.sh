#!/bin/sh
# deps.sh run|test: installs the Debian packages Webtrunk needs when they are
# missing, then downloads the Go modules. "run" is what building and running
# the gateway needs (libopus for the Opus codec through cgo); "test" adds the
# real peers the integration tests drive (sipp, baresip, Chromium, Firefox
# ESR, coturn, the PostgreSQL server of the call record tests), the tools
# that generate and analyse test audio and captures, and the test-only npm
# packages of test/js (puppeteer-core, which drives Firefox without
# downloading a browser, and typescript, which checks webtrunk.d.ts); none
# of those is shipped with the gateway.
set -eu

run_pkgs="libopus-dev libopusfile-dev pkg-config gcc"
test_pkgs="$run_pkgs sip-tester baresip-core chromium firefox-esr tcpdump iptables systemd sox espeak-ng iproute2 util-linux coturn postgresql"
# Several instances: Redis of the shared limits, Kamailio of deploy/kamailio.cfg.
test_pkgs="$test_pkgs redis-server kamailio"

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
# Node.js and npm count by their commands: a machine may have them from
# elsewhere than Debian (NodeSource's nodejs carries npm and conflicts
# with Debian's npm package).
if [ "$1" = test ] && ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
	echo "installing Debian packages:$missing"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
	case " $missing " in
	*" coturn "*)
		# The tests start coturn themselves, on loopback; the package's
		# own service would be an open TURN server on this machine.
		if command -v systemctl >/dev/null 2>&1; then
			$sudo systemctl disable --now coturn >/dev/null 2>&1 || true
		fi
		;;
	esac
	case " $missing " in
	*" redis-server "* | *" kamailio "*)
		# The tests start their own Redis and Kamailio on loopback.
		if command -v systemctl >/dev/null 2>&1; then
			$sudo systemctl disable --now redis-server kamailio >/dev/null 2>&1 || true
		fi
		;;
	esac
fi

go mod download

if [ "$1" = test ]; then
	# Exactly the versions of test/js/package-lock.json; never a browser.
	(cd "$(dirname "$0")/../test/js" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
