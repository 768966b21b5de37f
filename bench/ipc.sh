#!/usr/bin/env bash
# ipc.sh: System V and POSIX IPC against native (issue 15, item 1),
# measured in the same run, printed as a markdown table for BENCHMARKS.md.
#
#   sempong     a turn handed back and forth between two processes through
#               a semaphore set, per round trip (bench/sempong.c)
#   msgpong     a 64-byte message bounced through a System V message queue
#               (bench/msgpong.c)
#   mqpong      the same through two POSIX message queues (bench/mqpong.c)
#   shmattach   shmat, first touch of a page, shmdt of a 64 KiB segment
#               (bench/shmattach.c)
#   pipepong    the pipe ping-pong (bench/pipepong.c): the same shape of
#               wake-ups with the sandbox's most direct primitive, as the
#               reference for the three above
#
# Environment knobs:
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   BENCH_FLAGS="..."     extra runsc-lite flags (e.g. "--platform ptrace")
#   BENCH_QUICK=1         fewer iterations (a smoke test of the script)
# Progress goes to stderr; only the report goes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-ipc.XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { echo "ipc: $*" >&2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	rounds=3 n_native=2000 n_sandbox=200
else
	rounds=5 n_native=20000 n_sandbox=2000
fi

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
progs="sempong msgpong mqpong shmattach pipepong"
for prog in $progs; do
	gcc -static -O2 -Wall -Werror -o "$work/$prog" "bench/$prog.c"
done
read -r -a flags <<<"${BENCH_FLAGS:-}"
sandbox() { "$rl" do "${flags[@]}" -- "$@"; }

value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2fx", b / a; else print "n/a" }'; }
us() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else if (ns >= 1000) printf "%.2f µs", ns / 1000; else printf "%.0f ns", ns }'; }

declare -A nat sb
for prog in $progs; do
	log "$prog"
	nat[$prog]=$("$work/$prog" "$n_native" "$rounds" | value ns_per_op)
	sb[$prog]=$(sandbox "$work/$prog" "$n_sandbox" "$rounds" | value ns_per_op)
done

echo "| benchmark | native | sandbox | ratio | sandbox / sandbox pipe round trip |"
echo "|---|---:|---:|---:|---:|"
for prog in $progs; do
	echo "| $prog | $(us "${nat[$prog]}") | $(us "${sb[$prog]}") | $(ratio "${nat[$prog]}" "${sb[$prog]}") | $(ratio "${sb[pipepong]}" "${sb[$prog]}") |"
done
