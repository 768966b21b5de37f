#!/usr/bin/env bash
# tty.sh: terminals against native, measured in the same run, printed as a
# markdown table for BENCHMARKS.md.
#
#   pty round trip        a byte through a pseudo-terminal pair made by the
#                         program and back (bench/ptypong.c inner): ns per
#                         round trip; then 16 MiB replica -> master, MiB/s
#   host terminal echo    a byte typed into the program's terminal and
#                         echoed by it (bench/ptydrive.c pty pong, the program
#                         in raw mode): natively the host pty; in the sandbox
#                         the host pty in raw mode as the master of the
#                         sandbox's /dev/pts/0 (the sentry's line discipline)
#   pipe echo             the same over two pipes (the sentry's host-file
#                         path: what passing the terminal through would cost)
#   64 MiB to terminal    ptypong spew 64 read by ptydrive, MiB/s: the host
#                         pty natively, /dev/pts/0 in the sandbox, pipes
#
# Environment knobs: RUNSC_LITE_BIN, BENCH_FLAGS, BENCH_QUICK=1 (as bench.sh).
# Progress goes to stderr; only the report goes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-tty.XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { echo "tty: $*" >&2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	pn=1000 ps=200 mib=8
else
	pn=10000 ps=2000 mib=64
fi

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
gcc -static -O2 -Wall -Werror -o "$work/ptypong" bench/ptypong.c
gcc -O2 -Wall -Werror -o "$work/ptydrive" bench/ptydrive.c
read -r -a flags <<<"${BENCH_FLAGS:-}"
sandbox() { "$rl" do "${flags[@]}" -- "$@"; }

value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2fx", b / a; else print "n/a" }'; }
share() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2f of native", b / a; else print "n/a" }'; }
us() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else printf "%.1f µs", ns / 1000 }'; }

log "pty pair inside the program ($pn / $ps round trips)"
in_n=$("$work/ptypong" inner "$pn")
in_s=$(sandbox "$work/ptypong" inner "$ps")
log "host terminal echo"
he_n=$("$work/ptydrive" pty pong "$pn" -- "$work/ptypong" echo | value ns_per_op)
he_s=$("$work/ptydrive" pty pong "$ps" -- "$rl" do "${flags[@]}" -- "$work/ptypong" echo | value ns_per_op)
pe_n=$("$work/ptydrive" pipe pong "$pn" -- "$work/ptypong" echo | value ns_per_op)
pe_s=$("$work/ptydrive" pipe pong "$ps" -- "$rl" do "${flags[@]}" -- "$work/ptypong" echo | value ns_per_op)
log "$mib MiB to the terminal"
ht_n=$("$work/ptydrive" pty drain 0 -- "$work/ptypong" spew "$mib" | value mib_per_s)
ht_s=$("$work/ptydrive" pty drain 0 -- "$rl" do "${flags[@]}" -- "$work/ptypong" spew "$mib" | value mib_per_s)
pt_n=$("$work/ptydrive" pipe drain 0 -- "$work/ptypong" spew "$mib" | value mib_per_s)
pt_s=$("$work/ptydrive" pipe drain 0 -- "$rl" do "${flags[@]}" -- "$work/ptypong" spew "$mib" | value mib_per_s)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) x ${cpu:-unknown CPU}, Linux $(uname -r), load average $(cut -d' ' -f1 /proc/loadavg), with bench/tty.sh (flags: ${BENCH_FLAGS:-none})."
echo
echo "| terminal benchmark | native | sandbox | sandbox / native |"
echo "|---|---:|---:|---:|"
a=$(value ns_per_op <<<"$in_n") b=$(value ns_per_op <<<"$in_s")
echo "| pty pair in the program, round trip | $(us "$a") | $(us "$b") | $(ratio "$a" "$b") |"
a=$(value mib_per_s <<<"$in_n") b=$(value mib_per_s <<<"$in_s")
echo "| pty pair in the program, 16 MiB replica → master | $a MiB/s | $b MiB/s | $(share "$a" "$b") |"
echo "| host terminal, typed byte echoed | $(us "$he_n") | $(us "$he_s") | $(ratio "$he_n" "$he_s") |"
echo "| two pipes, byte echoed | $(us "$pe_n") | $(us "$pe_s") | $(ratio "$pe_n" "$pe_s") |"
echo "| host terminal, $mib MiB written | $ht_n MiB/s | $ht_s MiB/s | $(share "$ht_n" "$ht_s") |"
echo "| pipe, $mib MiB written | $pt_n MiB/s | $pt_s MiB/s | $(share "$pt_n" "$pt_s") |"
