#!/usr/bin/env bash
# net.sh: the network benchmarks of issue 13, native against runsc-lite
# (every platform that runs here) against gVisor's runsc (systrap and
# ptrace, --network=none): bench/lib.sh's environments, measured in the
# same run, rounds interleaved, medians reported.
#
#   TCP 1 stream     iperf3 -c 127.0.0.1 -t T (server in the same sandbox), Mbit/s received
#   TCP 4 streams    iperf3 -P 4, Mbit/s received (sum)
#   TCP 1-byte RTT   bench/tcprr.c: a byte back and forth, TCP_NODELAY, µs per round trip
#   UDP              iperf3 -u -b 2G -l 1400, Mbit/s received and % lost
#   TCP connections  bench/tcpconn.c: connect+accept+close, per second
#   redis SET/GET    redis-benchmark -q -n N -t set,get (redis-server in the same sandbox), requests/s
#   AF_UNIX RTT      bench/unixpong.c: a byte back and forth over a stream socketpair, µs per round trip
#   AF_UNIX stream   bench/unixtput.c: 64 KiB writes between two processes, MiB/s
#                    (bench/sockets.sh has more AF_UNIX shapes, runsc-lite only)
#
# Every benchmark runs inside each environment whole (server and client):
# natively in a network namespace of its own (unshare -n, when permitted),
# in runsc-lite (do --platform=P --network=none) and in gVisor
# (bench/gvisor.sh builds runsc; do --network=none --ignore-cgroups
# --platform=P). Prints a markdown table on stdout; progress on stderr.
# Knobs: those of bench.sh (RUNSC_LITE_BIN, BENCH_FLAGS: more flags for
# runsc-lite do, e.g. --unconfined to measure what the confinement costs;
# BENCH_PLATFORMS, GVISOR=0) and
#   ROUNDS=N              rounds per benchmark (default 3)
#   BENCH_QUICK=1         short runs (a smoke test of the script)
#   BASE_BIN=PATH         also measure this runsc-lite (say, one built from
#                         main) on every platform, as base-P, interleaved
#                         with the others: a before/after in one run
#   NET_ONLY="K ..."      only these benchmarks (tcp1 tcp4 rtt udp conn
#                         redis unixrtt unixtp; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-netbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
log() { echo "net.sh: $*" >&2; }

rounds=${ROUNDS:-3}
secs=5 rr_n=20000 rr_s=2000 cc_n=2000 cc_s=300 redis_n=20000 tp_n=8192 tp_s=2048
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	rounds=1 secs=1 rr_n=2000 rr_s=200 cc_n=200 cc_s=50 redis_n=2000 tp_n=1024 tp_s=256
fi

for t in iperf3 redis-server redis-benchmark gcc; do
	command -v "$t" >/dev/null || { log "$t is missing (apt-get install -y iperf3 redis-server redis-tools gcc)"; exit 1; }
done
. bench/lib.sh
for p in tcprr tcpconn unixpong unixtput; do
	gcc -static -O2 -Wall -Werror -o "$work/$p" "bench/$p.c"
done
bench_setup_envs "$work"
flags+=(--network=none)
if [ -n "${BASE_BIN:-}" ]; then
	# base-P beside each runsc-lite-P.
	with_base=()
	for env in "${envs[@]}"; do
		case $env in
		runsc-lite-*) with_base+=("base-${env#runsc-lite-}" "$env") ;;
		*) with_base+=("$env") ;;
		esac
	done
	envs=("${with_base[@]}")
fi
only=" ${NET_ONLY:-tcp1 tcp4 rtt udp conn redis unixrtt unixtp} "

# The programs each environment runs: a shell script per benchmark.
cat >"$work/tcp.sh" <<EOF
iperf3 -s -p 5299 -1 >/dev/null 2>&1 &
sleep 1
iperf3 -c 127.0.0.1 -p 5299 -t $secs -P "\$1" -J | python3 -c 'import json,sys; print("mbps:", json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6)'
wait
EOF
cat >"$work/udp.sh" <<EOF
iperf3 -s -p 5298 -1 >/dev/null 2>&1 &
sleep 1
iperf3 -c 127.0.0.1 -p 5298 -u -b 2G -l 1400 -t $secs -J | python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print("mbps:", e["bits_per_second"]*(100-e["lost_percent"])/100/1e6); print("lost:", e["lost_percent"])'
wait
EOF
cat >"$work/redis.sh" <<EOF
redis-server --port 7399 --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
for i in \$(seq 1 100); do redis-cli -p 7399 ping >/dev/null 2>&1 && break; sleep 0.2; done
redis-benchmark -p 7399 -q -n $redis_n -t set,get | tr '\r' '\n' | sed -n 's/^\(SET\|GET\): \([0-9.]*\) requests per second.*/\1: \2/p'
redis-cli -p 7399 shutdown nosave >/dev/null 2>&1; wait
EOF

native_prefix=()
if unshare -n ip link set lo up 2>/dev/null; then
	native_prefix=(unshare -n sh -c 'ip link set lo up && exec "$@"' sh)
fi

# run ENV PROG ARGS...: PROG in environment ENV, natively in its own
# network namespace.
run() {
	local env=$1
	shift
	case $env in
	native) in_env native "${native_prefix[@]}" "$@" ;;
	base-*) timeout "$timeout_s" "$BASE_BIN" do --platform="${env#base-}" "${flags[@]}" -- "$@" ;;
	*) in_env "$env" "$@" ;;
	esac
}

value() { sed -n "s/^$1: *\([0-9.e+-]*\).*/\1/p" | tail -n 1; }

declare -A res
# measure NAME:KEY[,NAME:KEY...] FUNC: runs FUNC ENV for every environment,
# rounds interleaved, and records the value of each KEY of its output as
# NAME's.
measure() {
	local specs=$1
	shift
	[[ $only == *" $1 "* ]] || return 0
	for r in $(seq 1 "$rounds"); do
		for env in "${envs[@]}"; do
			log "$specs, $env, round $r"
			local out
			out=$("$@" "$env" 2>/dev/null || true)
			local spec
			for spec in ${specs//,/ }; do
				res[${spec%%:*}/$env]+="$(echo "$out" | value "${spec#*:}") "
			done
		done
	done
}

udp() { run "$1" sh "$work/udp.sh"; }
rtt() { if [ "$1" = native ]; then run "$1" "$work/tcprr" "$rr_n" 3; else run "$1" "$work/tcprr" "$rr_s" 3; fi; }
conn() { if [ "$1" = native ]; then run "$1" "$work/tcpconn" "$cc_n" 3; else run "$1" "$work/tcpconn" "$cc_s" 3; fi; }
redis() { run "$1" sh "$work/redis.sh"; }
unixrtt() { if [ "$1" = native ]; then run "$1" "$work/unixpong" "$rr_n" 3; else run "$1" "$work/unixpong" "$rr_s" 3; fi; }
unixtp() { if [ "$1" = native ]; then run "$1" "$work/unixtput" "$tp_n" 3; else run "$1" "$work/unixtput" "$tp_s" 3; fi; }

tcp1() { run "$1" sh "$work/tcp.sh" 1; }
tcp4() { run "$1" sh "$work/tcp.sh" 4; }
measure tcp1:mbps tcp1
measure tcp4:mbps tcp4
measure rtt:ns_per_op rtt
measure udp:mbps,udploss:lost udp
measure conn:ns_per_op conn
measure redisset:SET,redisget:GET redis
measure unixrtt:ns_per_op unixrtt
measure unixtp:ns_per_op unixtp

med() { echo "${res[$1/$2]:-}" | tr ' ' '\n' | grep . | median; }
fmt() { # VALUE KIND
	awk -v v="$1" -v k="$2" 'BEGIN {
		if (v == "") { print "n/a"; exit }
		if (k == "mbps") printf "%.0f Mbit/s", v
		else if (k == "us") printf "%.1f µs", v / 1000
		else if (k == "rate") printf "%.0f /s", 1e9 / v
		else if (k == "pct") printf "%.1f%%", v
		else if (k == "mibps") printf "%.0f MiB/s", 65536 / v * 1e9 / 1048576
		else printf "%.0f /s", v }'
}
ratio() { # NATIVE OTHER KIND: throughput as % of native, times as x native
	awk -v n="$1" -v o="$2" -v k="$3" 'BEGIN {
		if (n == "" || o == "" || n == 0 || o == 0) { print "n/a"; exit }
		if (k == "us") printf "%.1fx", o / n
		else if (k == "rate" || k == "mibps") printf "%.0f%%", 100 * n / o
		else printf "%.0f%%", 100 * o / n }'
}

row() { # LABEL NAME KIND (a benchmark NET_ONLY left out has no row)
	local label=$1 name=$2 kind=$3 n line
	case $name in
	redis*) [[ $only == *" redis "* ]] || return 0 ;;
	udp*) [[ $only == *" udp "* ]] || return 0 ;;
	*) [[ $only == *" $name "* ]] || return 0 ;;
	esac
	n=$(med "$name" native)
	line="| $label | $(fmt "$n" "$kind")"
	for env in "${envs[@]:1}"; do
		local v
		v=$(med "$name" "$env")
		if [ "$kind" = pct ]; then
			line+=" | $(fmt "$v" "$kind")"
		else
			line+=" | $(fmt "$v" "$kind") ($(ratio "$n" "$v" "$kind"))"
		fi
	done
	echo "$line |"
}

header="| benchmark | native"
sep="|---|---"
for env in "${envs[@]:1}"; do
	header+=" | $env"
	sep+="|---"
done
echo "$header |"
echo "$sep|"
row "TCP loopback, 1 stream" tcp1 mbps
row "TCP loopback, 4 streams" tcp4 mbps
row "TCP 1-byte round trip" rtt us
row "UDP loopback received (2 Gbit/s offered)" udp mbps
row "UDP loss" udploss pct
row "TCP connect+accept+close" conn rate
row "redis-benchmark SET" redisset rps
row "redis-benchmark GET" redisget rps
row "AF_UNIX stream round trip (bench/unixpong.c)" unixrtt us
row "AF_UNIX stream throughput, 64 KiB writes (bench/unixtput.c)" unixtp mibps
echo
echo "Medians of $rounds interleaved rounds; ratios to native in parentheses (throughput: % of native; time: x native). $(nproc) host CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)."
