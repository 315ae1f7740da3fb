#!/bin/sh
# run.sh [gateway flags]: installs what is missing, builds Webtrunk and runs
# the gateway with the default configuration (config/example.yaml), or with
# the flags given.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh run
mkdir -p bin
go build -o bin/ ./cmd/...
if [ "$#" -eq 0 ]; then
	set -- -config config/example.yaml
fi
exec bin/gateway "$@"
