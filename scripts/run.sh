#!/bin/sh
# run.sh [gateway flags]: installs what is missing, builds Webtrunk and runs
# the gateway with the default configuration (config/example.yaml), or with
# the flags given.
#
# With the default configuration it first starts the demo SIP endpoint
# bin/echo on 127.0.0.1:5070, the "demo" trunk of config/example.yaml, and
# stops it once the gateway has exited (set WEBTRUNK_ECHO=0 to leave it out,
# or WEBTRUNK_ECHO=1 to start it with other flags too). SIGINT (Ctrl-C) and
# SIGTERM make the gateway drain its calls and exit; the endpoint stops last,
# so calls still in progress during the grace period keep their far end.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh run
mkdir -p bin
go build -o bin/ ./cmd/...

start_echo=${WEBTRUNK_ECHO:-}
if [ "$#" -eq 0 ]; then
	set -- -config config/example.yaml
	start_echo=${start_echo:-1}
fi
if [ "${start_echo:-0}" != 1 ]; then
	exec bin/gateway "$@"
fi

# Each process gets its own session (setsid), so a Ctrl-C in the terminal
# reaches only this script, which then stops them in order.
setsid bin/echo &
echo_pid=$!
setsid bin/gateway "$@" &
gateway_pid=$!
trap 'kill -TERM "$gateway_pid" 2>/dev/null || true' INT TERM

status=0
while :; do
	if wait "$gateway_pid"; then status=0; else status=$?; fi
	# wait also returns when a trapped signal arrives: go on waiting while
	# the gateway drains.
	kill -0 "$gateway_pid" 2>/dev/null || break
done
kill -TERM "$echo_pid" 2>/dev/null || true
wait "$echo_pid" 2>/dev/null || true
exit "$status"
