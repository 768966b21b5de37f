#!/usr/bin/env bash
# ptrace.sh: the cost of a traced syscall against native (issue 15, item 4),
# measured in the same run, printed as a markdown table for BENCHMARKS.md.
#
#   getpid              a raw getpid (bench/getpid.c), untraced: the reference
#   getpid under strace the same under `strace -f -o /dev/null`: two
#                       syscall-stops per call, each a wait4 and a few ptrace
#                       requests of the tracer (PTRACE_SYSCALL, GET_SYSCALL_INFO)
#
# Environment knobs:
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   BENCH_FLAGS="..."     extra runsc-lite flags
#   BENCH_QUICK=1         fewer iterations (a smoke test of the script)
# Progress goes to stderr; only the report goes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-ptrace.XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { echo "ptrace: $*" >&2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	rounds=3 n=2000
else
	rounds=5 n=20000
fi

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
gcc -static -O2 -Wall -Werror -o "$work/getpid" bench/getpid.c
read -r -a flags <<<"${BENCH_FLAGS:-}"
sandbox() { "$rl" do "${flags[@]}" -- "$@"; }

value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2fx", b / a; else print "n/a" }'; }
us() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else if (ns >= 1000) printf "%.2f µs", ns / 1000; else printf "%.0f ns", ns }'; }

log "getpid"
nat_plain=$("$work/getpid" "$n" "$rounds" | value ns_per_op)
sb_plain=$(sandbox "$work/getpid" "$n" "$rounds" | value ns_per_op)
log "getpid under strace"
nat_traced=$(strace -f -o /dev/null "$work/getpid" "$n" "$rounds" | value ns_per_op)
sb_traced=$(sandbox strace -f -o /dev/null "$work/getpid" "$n" "$rounds" | value ns_per_op)

echo "| benchmark | native | sandbox | ratio |"
echo "|---|---:|---:|---:|"
echo "| getpid | $(us "$nat_plain") | $(us "$sb_plain") | $(ratio "$nat_plain" "$sb_plain") |"
echo "| getpid under strace -f | $(us "$nat_traced") | $(us "$sb_traced") | $(ratio "$nat_traced" "$sb_traced") |"
