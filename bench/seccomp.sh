#!/usr/bin/env bash
# seccomp.sh: what a seccomp filter inside the sandbox costs a syscall
# (issue 15, item 5), against native in the same run, printed as a markdown
# table for BENCHMARKS.md. bench/seccomp.c times raw getpid calls with no
# filter, a short filter (7 instructions), a long one (305 instructions on
# getpid's path: a linear list the size of Docker's profile), and the long
# one with a check of an argument at its end (longarg: the sentry's allow
# cache cannot answer, the interpreter runs every instruction).
#
# Environment knobs:
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   BENCH_FLAGS="..."     extra runsc-lite flags (e.g. "--platform ptrace")
#   BENCH_QUICK=1         fewer iterations (a smoke test of the script)
# Progress goes to stderr; only the report goes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-seccomp.XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { echo "seccomp: $*" >&2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	rounds=3 n_native=20000 n_sandbox=2000
else
	rounds=7 n_native=1000000 n_sandbox=50000
fi

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
gcc -static -O2 -Wall -Werror -o "$work/seccomp" bench/seccomp.c
read -r -a flags <<<"${BENCH_FLAGS:-}"
sandbox() { "$rl" do "${flags[@]}" -- "$@"; }

value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2fx", b / a; else print "n/a" }'; }
us() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else if (ns >= 1000) printf "%.2f µs", ns / 1000; else printf "%.0f ns", ns }'; }
diffns() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%+.0f ns", b - a }'; }

declare -A nat sb
for mode in none short long longarg; do
	log "$mode"
	nat[$mode]=$(SECCOMP_BENCH_FILTER=$mode "$work/seccomp" "$n_native" "$rounds" | value ns_per_op)
	sb[$mode]=$(SECCOMP_BENCH_FILTER=$mode sandbox "$work/seccomp" "$n_sandbox" "$rounds" | value ns_per_op)
done

echo "| getpid under | native | sandbox | ratio | native filter cost | sandbox filter cost |"
echo "|---|---:|---:|---:|---:|---:|"
for mode in none short long longarg; do
	echo "| $mode filter | $(us "${nat[$mode]}") | $(us "${sb[$mode]}") | $(ratio "${nat[$mode]}" "${sb[$mode]}") | $(diffns "${nat[none]}" "${nat[$mode]}") | $(diffns "${sb[none]}" "${sb[$mode]}") |"
done
