#!/usr/bin/env bash
# roundtrips.sh: the platform's host round trips per fork+exit+wait, per
# fork+execve+wait and per thread create+join (issue 16 item 4), counts
# that do not depend on the host's load, and the wall time of each in the
# same run.
#
# Each program (bench/forkexit.c, forkexec.c, threadjoin.c) runs under
# `runsc-lite do` with RUNSC_LITE_PLATFORM_COUNTS=1 (the sentry prints
# platform.Counts at exit) twice, with 1 and with 1+N iterations; the
# difference divided by N is the count per operation, start-up excluded.
# With BASE_BIN set, that binary (say, one built from main) is measured in
# the same run, interleaved, for before/after tables.
#
#   bench/roundtrips.sh                 build runsc-lite, measure it
#   RUNSC_LITE_BIN=PATH                 measure this binary instead
#   BASE_BIN=PATH                       also measure this one
#   BENCH_PLATFORMS="ptrace systrap"    platforms (default ptrace systrap)
#   ROUNDS=3                            timing rounds (medians are printed)
#   PERF=1                              also count host context switches and
#                                       the sentry's CPU time (perf stat), per
#                                       operation, from the first round
#
# Output: a markdown table per platform: per-operation stops (syscall and
# fault round trips), injections (injected host syscall sequences; one
# per batch), injected host syscalls, master hops, stub threads made, and
# µs per operation (the median of the rounds; native's too, run in the
# same rounds). The load average at the start and end goes to the first
# line.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
work=$(mktemp -d /tmp/runsc-lite-roundtrips.XXXXXX)
trap 'rm -rf "$work"' EXIT

rl=$(runsc_lite_bin "$work") || exit 1
bins=("new=$rl")
[ -n "${BASE_BIN:-}" ] && bins=("base=$BASE_BIN" "${bins[@]}")
rounds=${ROUNDS:-3}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for prog in forkexit forkexec threadjoin; do
	gcc -static -O2 -Wall -Werror -Ibench -o "$work/$prog" "bench/$prog.c"
done
declare -A iters=([forkexit]=200 [forkexec]=50 [threadjoin]=400)

# counts BIN PLATFORM PROG N: the counts line's key=value pairs and
# ns_per_op, one per line.
counts() {
	local out
	local perf=()
	if [ "${PERF:-0}" = 1 ]; then
		perf=(perf stat -x, -e context-switches,task-clock -o "$work/perf.out" --)
	fi
	if ! out=$(RUNSC_LITE_PLATFORM_COUNTS=1 timeout 300 "${perf[@]}" "$1" do --platform="$2" -- "$work/$3" "$4" 1 2>&1); then
		echo "roundtrips: FAILED: $1 do --platform=$2 -- $3 $4:" >&2
		printf '%s\n' "$out" | tail -n 5 >&2
		status=1
	fi
	printf '%s\n' "$out" | sed -n 's/^ns_per_op: /ns_per_op=/p; s/^runsc-lite: platform round trips: //p' | tr ' ' '\n'
	if [ "${PERF:-0}" = 1 ]; then
		awk -F, '$3 == "context-switches" { print "switches=" $1 } $3 ~ /^task-clock/ { print "cpu_ms=" $1 }' "$work/perf.out"
	fi
}
status=0
get() { sed -n "s/^$1=//p" "$2"; }

for p in ${BENCH_PLATFORMS:-ptrace systrap}; do
	for r in $(seq "$rounds"); do
		for prog in forkexit forkexec threadjoin; do
			"$work/$prog" "${iters[$prog]}" 1 | sed -n 's/^ns_per_op: /ns_per_op=/p' >"$work/$p.$prog.native.$r"
			for b in "${bins[@]}"; do
				name=${b%%=*} bin=${b#*=}
				if [ "$r" = 1 ]; then
					counts "$bin" "$p" "$prog" 1 >"$work/$p.$prog.$name.one"
				fi
				counts "$bin" "$p" "$prog" "$((1 + iters[$prog]))" >"$work/$p.$prog.$name.$r"
			done
		done
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $load_start at the start, $load_end at the end; $rounds rounds"
for p in ${BENCH_PLATFORMS:-ptrace systrap}; do
	echo
	echo "--platform=$p"
	echo
	keys="stops injections injected_syscalls master_calls stub_threads"
	head="| operation | binary | stops | injections | injected syscalls | master hops | stub threads"
	if [ "${PERF:-0}" = 1 ]; then
		keys+=" switches cpu_ms"
		head+=" | host switches | sentry CPU ms"
	fi
	echo "$head | µs per op (median) |"
	nk=$(wc -w <<<"$keys")
	echo "|---|---|$(printf -- '---:|%.0s' $(seq $((nk + 1))))"
	for prog in forkexit forkexec threadjoin; do
		n=${iters[$prog]}
		nat=$(for r in $(seq "$rounds"); do get ns_per_op "$work/$p.$prog.native.$r"; done | sort -g | awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] / 1000 }')
		echo "| $prog | native |$(printf ' |%.0s' $(seq "$nk")) $nat |"
		for b in "${bins[@]}"; do
			name=${b%%=*}
			one=$work/$p.$prog.$name.one many=$work/$p.$prog.$name.1
			row="| $prog | $name"
			for k in $keys; do
				a=$(get "$k" "$one") z=$(get "$k" "$many")
				row+=" | $(awk -v a="${a:-0}" -v z="${z:-0}" -v n="$n" 'BEGIN { v = (z - a) / n; printf "%.2f", (v < 0.005 && v > -0.005) ? 0 : v }')"
			done
			ns=$(for r in $(seq "$rounds"); do get ns_per_op "$work/$p.$prog.$name.$r"; done | sort -g | awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] / 1000 }')
			echo "$row | $ns |"
		done
	done
done
exit $status
