#!/bin/sh
# isolated.sh CMD...: runs CMD inside a private network namespace whose only
# interface is loopback, so that the tests' browsers, SIP peers and ICE agents
# can reach 127.0.0.1 and nothing else. Needs root, or unprivileged user
# namespaces (then it maps the caller to root inside the namespace).
set -eu
if [ "$(id -u)" -eq 0 ]; then
	flags="--net"
else
	flags="--net --map-root-user"
fi
exec unshare $flags sh -c 'ip link set lo up && exec "$@"' isolated "$@"
