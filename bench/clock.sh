#!/usr/bin/env bash
# clock.sh: the cost of a clock read (issue 16 item 5), natively, in
# runsc-lite on every platform that runs here (bench/lib.sh's environments)
# without its vDSO (--vdso=false: every read traps, as before the vDSO) and
# with it (the default), and in gVisor's runsc (systrap and ptrace), all in
# the same run. Prints a markdown table for BENCHMARKS.md.
#
#   clock_gettime(MONOTONIC)  through libc (the vDSO where mapped), ns per read
#   clock_gettime(REALTIME)   the same
#   gettimeofday              the same
#   time                      the same
#   syscall(clock_gettime)    the trapped syscall, for scale
#
# Each runsc-lite platform has a third column, "in a time namespace": the
# program under util-linux `unshare -T -f` with offsets inside the
# sandbox, where the vDSO adds the namespace's offsets from its own [vvar]
# page (ARCHITECTURE.md, "Time namespaces"), so it should cost what the
# first namespace's reads do.
#
# Environment knobs: those of bench.sh (RUNSC_LITE_BIN, BENCH_FLAGS,
# BENCH_PLATFORMS, GVISOR=0) and
#   BENCH_QUICK=1         fewer iterations (a smoke test of the script)
# Progress goes to stderr; only the report goes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-clock.XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { echo "clock: $*" >&2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	fast=100000 slow=5000 rounds=3
else
	fast=2000000 slow=50000 rounds=5
fi

. bench/lib.sh
gcc -static -O2 -Wall -Werror -o "$work/clockread" bench/clockread.c
bench_setup_envs "$work"

value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ns() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else if (ns >= 1000) printf "%.2f µs", ns / 1000; else printf "%.0f ns", ns }'; }

# Each runsc-lite platform three times: ENV-novdso runs with --vdso=false,
# ENV-timens in a time namespace.
columns=()
for env in "${envs[@]}"; do
	case $env in
	runsc-lite-*) columns+=("$env-novdso" "$env" "$env-timens") ;;
	*) columns+=("$env") ;;
	esac
done
clock_in_env() {
	local env=$1
	shift
	case $env in
	*-novdso) (
		flags+=(--vdso=false)
		in_env "${env%-novdso}" "$@"
	) ;;
	*-timens) in_env "${env%-timens}" unshare -T --monotonic 86400 --boottime 86400 -f "$@" ;;
	*) in_env "$env" "$@" ;;
	esac
}

line="| read |"
sep="|---|"
for env in "${columns[@]}"; do
	case $env in
	native) line+=" native |" ;;
	*-novdso)
		e=${env%-novdso}
		line+=" runsc-lite ${e#runsc-lite-}, no vDSO |"
		;;
	*-timens)
		e=${env%-timens}
		line+=" runsc-lite ${e#runsc-lite-}, vDSO, in a time namespace |"
		;;
	runsc-lite-*) line+=" runsc-lite ${env#runsc-lite-}, vDSO |" ;;
	gvisor-*) line+=" gVisor ${env#gvisor-} |" ;;
	esac
	sep+="---|"
done
printf '%s\n%s\n' "$line" "$sep"
for kind in monotonic realtime gettimeofday time syscall; do
	log "$kind"
	printf '| %s |' "$kind"
	for env in "${columns[@]}"; do
		# Trapped reads cost microseconds: fewer of them.
		n=$fast
		case "$env/$kind" in
		native/*) ;;
		*/syscall | *-novdso/* | gvisor-ptrace/*) n=$slow ;;
		esac
		v=$(clock_in_env "$env" "$work/clockread" "$kind" "$n" "$rounds" | value ns_per_op) || v=""
		printf ' %s |' "$(ns "$v")"
	done
	printf '\n'
done
