#!/usr/bin/env bash
# clock.sh: the cost of a clock read (issue 16 item 5), natively, in
# runsc-lite without its vDSO (--vdso=false: every read traps, as before
# the vDSO), with it (the default), and in gVisor's runsc (systrap and
# ptrace) when bench/gvisor.sh can build it, all in the same run. Prints a
# markdown table for BENCHMARKS.md.
#
#   clock_gettime(MONOTONIC)  through libc (the vDSO where mapped), ns per read
#   clock_gettime(REALTIME)   the same
#   gettimeofday              the same
#   time                      the same
#   syscall(clock_gettime)    the trapped syscall, for scale
#
# The "timens" column is runsc-lite with its vDSO, the program in a time
# namespace with offsets (util-linux unshare -T -f): the vDSO adds the
# namespace's offsets from its own [vvar] page (ARCHITECTURE.md, "Time
# namespaces"), so it should cost what the first namespace's reads do.
#
# Environment knobs:
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   GVISOR=0              leave gVisor out
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
rl=$(runsc_lite_bin "$work")
gcc -static -O2 -Wall -Werror -o "$work/clockread" bench/clockread.c
gv=""
if [ "${GVISOR:-1}" != 0 ]; then
	gv=$(bench/gvisor.sh) || gv=""
fi

value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ns() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else if (ns >= 1000) printf "%.2f µs", ns / 1000; else printf "%.0f ns", ns }'; }

envs=(native no-vdso vdso timens)
[ -n "$gv" ] && envs+=(gvisor-systrap gvisor-ptrace)
in_env() {
	local env=$1
	shift
	case $env in
	native) "$@" ;;
	no-vdso) "$rl" do --vdso=false -- "$@" ;;
	vdso) "$rl" do -- "$@" ;;
	timens) "$rl" do -- unshare -T --monotonic 86400 --boottime 86400 -f "$@" ;;
	gvisor-systrap) "$gv" --network=none --ignore-cgroups --platform=systrap do "$@" ;;
	gvisor-ptrace) "$gv" --network=none --ignore-cgroups --platform=ptrace do "$@" ;;
	esac
}

printf '| read | native | runsc-lite, no vDSO | runsc-lite, vDSO | runsc-lite, vDSO, in a time namespace |'
[ -n "$gv" ] && printf ' gVisor systrap | gVisor ptrace |'
printf '\n|---|---|---|---|---|'
[ -n "$gv" ] && printf -- '---|---|'
printf '\n'
for kind in monotonic realtime gettimeofday time syscall; do
	log "$kind"
	printf '| %s |' "$kind"
	for env in "${envs[@]}"; do
		# Trapped reads cost microseconds: fewer of them.
		n=$fast
		case "$env/$kind" in
		native/*) ;;
		*/syscall | no-vdso/* | gvisor-ptrace/*) n=$slow ;;
		esac
		v=$(in_env "$env" "$work/clockread" "$kind" "$n" "$rounds" | value ns_per_op) || v=""
		printf ' %s |' "$(ns "$v")"
	done
	printf '\n'
done
