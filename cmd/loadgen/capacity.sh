#!/bin/sh
# capacity.sh [N...]: measures how many concurrent calls one gateway core
# carries, for Opus (transcoded) and PCMU (passed through), and prints a
# Markdown table of the figures.
#
# It builds the binaries, then, inside a private network namespace with
# only loopback (scripts/isolated.sh), for each codec and each number of
# calls N (default 25 50 100 150 200 250 300): starts bin/echo (the SIP
# endpoint that echoes every call) and bin/loadgen pinned to CPU 0, and a
# fresh bin/gateway with cmd/loadgen/testdata/capacity.yaml pinned to CPU 1,
# runs one measurement, and stops both. A codec's steps stop after the first
# N that does not pass. Reports go to $OUT (default /tmp/webtrunk-capacity):
# one JSON per run, the table in summary.md.
#
# Environment: OUT, DURATION (measured steady state, default 30s), RATE
# (calls started per second, default 10), CODECS (default "opus pcmu"),
# GATEWAY_CPU and LOADGEN_CPU (default 1 and 0), NICE (niceness of the
# three processes, default 0; a negative value such as -10 keeps other work
# on a shared machine from disturbing the measurement), PROFILE=1 (also saves a
# 20 s CPU profile and a heap profile of the gateway for every step, taken
# during the steady state through gateway -pprof; needs DURATION >= 25s).
# PERF=1 records 10 s of the gateway with perf(1) (Debian package
# linux-perf; software cpu-clock event, so it works in a VM without
# hardware counters), kernel and libopus included, and saves the share of
# each binary (gateway, libopus, kernel) as perf-CODEC-N.txt. CONFIG names
# another gateway configuration (default
# cmd/loadgen/testdata/capacity.yaml).
# Every step also saves the gateway's /metrics from the steady state (Go
# memory statistics among them) as metrics-CODEC-N.txt.
set -eu
cd "$(dirname "$0")/../.."

if [ -z "${WEBTRUNK_CAPACITY_INSIDE:-}" ]; then
	mkdir -p bin
	go build -o bin/ ./cmd/gateway ./cmd/echo ./cmd/loadgen
	WEBTRUNK_CAPACITY_INSIDE=1 exec ./scripts/isolated.sh "$0" "$@"
fi

out=${OUT:-/tmp/webtrunk-capacity}
duration=${DURATION:-30s}
rate=${RATE:-10}
codecs=${CODECS:-opus pcmu}
gw_cpu=${GATEWAY_CPU:-1}
nice=${NICE:-0}
lg_cpu=${LOADGEN_CPU:-0}
steps=${*:-25 50 100 150 200 250 300}
config=${CONFIG:-cmd/loadgen/testdata/capacity.yaml}
mkdir -p "$out"

# A finer heap sample rate when profiling, so that the heap profile
# resolves each call's few KiB.
memrate=
if [ "${PROFILE:-0}" = 1 ]; then
	memrate="-memprofilerate 4096"
fi

echo_pid= gw_pid=
stop_all() {
	for p in $gw_pid $echo_pid; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	gw_pid= echo_pid=
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

# wait_ready URL: polls the gateway's readiness for up to 10 s.
wait_ready() {
	i=0
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt 100 ]; then
			echo "capacity.sh: gateway not ready" >&2
			return 1
		fi
		sleep 0.1
	done
}

echo "nice $nice; machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
files=
for codec in $codecs; do
	for n in $steps; do
		nice -n "$nice" taskset -c "$lg_cpu" bin/echo -log-level warn -rtp-ports 30000-33999 -max-duration 0 2>"$out/echo-$codec-$n.log" &
		echo_pid=$!
		nice -n "$nice" taskset -c "$gw_cpu" bin/gateway -config "$config" -pprof 127.0.0.1:6060 $memrate 2>"$out/gateway-$codec-$n.log" &
		gw_pid=$!
		wait_ready http://127.0.0.1:8080/readyz
		# Ramp, settle, then look at the middle of the steady state.
		delay=$(awk -v n="$n" -v r="$rate" 'BEGIN { printf "%d", n / r + 5 }')
		(sleep "$delay" && curl -fsS -o "$out/metrics-$codec-$n.txt" http://127.0.0.1:9090/metrics) &
		metrics_pid=$!
		prof_pid=
		if [ "${PROFILE:-0}" = 1 ]; then
			(sleep "$delay" &&
				curl -fsS -o "$out/cpu-$codec-$n.pprof" "http://127.0.0.1:6060/debug/pprof/profile?seconds=20" &&
				curl -fsS -o "$out/heap-$codec-$n.pprof" "http://127.0.0.1:6060/debug/pprof/heap?gc=1" &&
				curl -fsS -o "$out/goroutine-$codec-$n.txt" "http://127.0.0.1:6060/debug/pprof/goroutine?debug=1") &
			prof_pid=$!
		fi
		perf_pid=
		if [ "${PERF:-0}" = 1 ]; then
			(sleep "$delay" &&
				perf record -q -e cpu-clock -F 999 -g -p "$gw_pid" -o "$out/perf-$codec-$n.data" -- sleep 10 &&
				perf report -i "$out/perf-$codec-$n.data" --no-children --sort dso --stdio -g none >"$out/perf-$codec-$n.txt" 2>/dev/null) &
			perf_pid=$!
		fi
		echo "== $codec, $n calls"
		status=0
		nice -n "$nice" taskset -c "$lg_cpu" bin/loadgen -codec "$codec" -calls "$n" -rate "$rate" -duration "$duration" \
			-password load-test-only -gateway-pid "$gw_pid" -json "$out/$codec-$n.json" || status=$?
		wait "$metrics_pid" || true
		for p in $prof_pid $perf_pid; do
			wait "$p" || true
		done
		stop_all
		if [ -f "$out/$codec-$n.json" ]; then
			files="$files $out/$codec-$n.json"
		fi
		if [ "$status" -ne 0 ]; then
			break
		fi
	done
done
bin/loadgen -summary $files | tee "$out/summary.md"
