#!/usr/bin/env bash
# sockets.sh: AF_UNIX against native (issue 13, item 8), measured in the
# same run, printed as a markdown table for BENCHMARKS.md.
#
#   round trip    a byte bounced between two processes over a stream socket
#                 pair, per round trip (bench/unixpong.c); with the pipe
#                 ping-pong (bench/pipepong.c) beside it, same shape
#   epoll         the same round trip with both sides waiting in
#                 epoll_wait before each read, as event-loop servers do
#                 (bench/unixpong.c built with -DWAIT_EPOLL)
#   throughput    64 KiB writes from one process to another, MiB/s
#                 (bench/unixtput.c)
#   the target    "AF_UNIX round trip within 2.5x of two getpid round
#                 trips": the sandbox's round trip over twice its getpid
#                 (bench/getpid.c), both measured here
#
# Environment knobs:
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   BENCH_FLAGS="..."     extra runsc-lite flags (e.g. "--platform ptrace")
#   BENCH_QUICK=1         fewer iterations (a smoke test of the script)
# Progress goes to stderr; only the report goes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-sockets.XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { echo "sockets: $*" >&2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	rounds=3 rtt_n=2000 rtt_s=200 tp_n=1024 tp_s=256 gp_s=5000
else
	rounds=5 rtt_n=20000 rtt_s=2000 tp_n=8192 tp_s=2048 gp_s=100000
fi

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
for prog in unixpong unixtput getpid pipepong; do
	gcc -static -O2 -Wall -Werror -o "$work/$prog" "bench/$prog.c"
done
gcc -static -O2 -Wall -Werror -DWAIT_EPOLL -o "$work/unixepollpong" bench/unixpong.c
read -r -a flags <<<"${BENCH_FLAGS:-}"
sandbox() { "$rl" do "${flags[@]}" -- "$@"; }
sandbox_one_cpu() { "$rl" do "${flags[@]}" --cpus 1 -- "$@"; }

value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2fx", b / a; else print "n/a" }'; }
us() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else if (ns >= 1000) printf "%.2f µs", ns / 1000; else printf "%.0f ns", ns }'; }

log "round trips"
rt_n=$("$work/unixpong" "$rtt_n" "$rounds" | value ns_per_op)
gp=$(sandbox "$work/getpid" "$gp_s" "$rounds" | value ns_per_op)
rt_s=$(sandbox "$work/unixpong" "$rtt_s" "$rounds" | value ns_per_op)
ep_n=$("$work/unixepollpong" "$rtt_n" "$rounds" | value ns_per_op)
ep_s=$(sandbox "$work/unixepollpong" "$rtt_s" "$rounds" | value ns_per_op)
pp_n=$("$work/pipepong" "$rtt_n" "$rounds" | value ns_per_op)
pp_s=$(sandbox "$work/pipepong" "$rtt_s" "$rounds" | value ns_per_op)
log "round trips on one CPU"
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
rt1_n=$($pin "$work/unixpong" "$rtt_n" "$rounds" | value ns_per_op)
rt1_s=$(sandbox_one_cpu "$work/unixpong" "$rtt_s" "$rounds" | value ns_per_op)
log "throughput"
mib() { awk -v ns="$1" 'BEGIN { if (ns > 0) printf "%.0f", 65536 / ns * 1e9 / 1048576 }'; }
tp_nat=$(mib "$("$work/unixtput" "$tp_n" "$rounds" | value ns_per_op)")
tp_sb=$(mib "$(sandbox "$work/unixtput" "$tp_s" "$rounds" | value ns_per_op)")

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) x ${cpu:-unknown CPU}, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), with \`bash bench/sockets.sh\` (flags: ${BENCH_FLAGS:-none})."
echo
echo "| benchmark | native | sandbox | ratio |"
echo "|---|---:|---:|---:|"
echo "| AF_UNIX stream round trip between two processes | $(us "$rt_n") | $(us "$rt_s") | $(ratio "$rt_n" "$rt_s") |"
echo "| AF_UNIX round trip through epoll_wait (bench/unixpong.c -DWAIT_EPOLL) | $(us "$ep_n") | $(us "$ep_s") | $(ratio "$ep_n" "$ep_s") |"
echo "| pipe ping-pong, same shape | $(us "$pp_n") | $(us "$pp_s") | $(ratio "$pp_n" "$pp_s") |"
echo "| AF_UNIX round trip, one CPU (native: taskset; sandbox: --cpus 1) | $(us "$rt1_n") | $(us "$rt1_s") | $(ratio "$rt1_n" "$rt1_s") |"
echo "| AF_UNIX stream throughput, 64 KiB writes | ${tp_nat:-n/a} MiB/s | ${tp_sb:-n/a} MiB/s | $(awk -v a="$tp_nat" -v b="$tp_sb" 'BEGIN { if (a > 0 && b != "") printf "%.2fx", b / a; else print "n/a" }') |"
echo
echo "Target: AF_UNIX round trip within 2.5x of two getpid round trips. Sandbox getpid $(us "$gp"): round trip / (2 x getpid) = $(awk -v r="$rt_s" -v g="$gp" 'BEGIN { if (g > 0 && r != "") printf "%.2f", r / (2 * g); else print "n/a" }') on the default CPUs, $(awk -v r="$rt1_s" -v g="$gp" 'BEGIN { if (g > 0 && r != "") printf "%.2f", r / (2 * g); else print "n/a" }') on one CPU; through epoll_wait (three syscalls a side, not two) $(awk -v r="$ep_s" -v g="$gp" 'BEGIN { if (g > 0 && r != "") printf "%.2f", r / (2 * g); else print "n/a" }')."
