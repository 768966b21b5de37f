#!/usr/bin/env bash
# timers.sh: runsc-lite's timers against native (issue 6 item 7), measured
# in the same run, printed as a markdown table for BENCHMARKS.md.
#
#   1 ms / 10 ms timer jitter   lateness of the reads of a periodic timerfd
#                               (bench/timer_jitter.c): median and p99, µs
#   nanosleep(0)                round trip, ns per call (timer_roundtrip.c)
#   timerfd arm 1 µs + read     round trip, ns per iteration (timer_roundtrip.c)
#
# Environment knobs:
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   BENCH_FLAGS="..."     extra runsc-lite flags (e.g. "--platform ptrace")
#   BENCH_QUICK=1         fewer iterations (a smoke test of the script)
# Progress goes to stderr; only the report goes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-timers.XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { echo "timers: $*" >&2; }

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	n1=200 n10=30 nrt=500
else
	n1=2000 n10=300 nrt=5000
fi

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
for prog in timer_jitter timer_roundtrip; do
	gcc -static -O2 -Wall -Werror -o "$work/$prog" "bench/$prog.c"
done
read -r -a flags <<<"${BENCH_FLAGS:-}"
sandbox() { "$rl" do "${flags[@]}" -- "$@"; }

value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2fx", b / a; else print "n/a" }'; }
diffus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%+.1f µs", b - a; else print "n/a" }'; }
us() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else if (ns >= 1000) printf "%.2f µs", ns / 1000; else printf "%.0f ns", ns }'; }

log "1 ms timer jitter ($n1 expiries)"
j1n=$("$work/timer_jitter" 1000 "$n1")
j1s=$(sandbox "$work/timer_jitter" 1000 "$n1")
log "10 ms timer jitter ($n10 expiries)"
j10n=$("$work/timer_jitter" 10000 "$n10")
j10s=$(sandbox "$work/timer_jitter" 10000 "$n10")
log "nanosleep(0) ($nrt calls)"
ns_n=$("$work/timer_roundtrip" nanosleep0 "$nrt" | value ns_per_op)
ns_s=$(sandbox "$work/timer_roundtrip" nanosleep0 "$nrt" | value ns_per_op)
log "timerfd 1 µs + read ($nrt iterations)"
tf_n=$("$work/timer_roundtrip" timerfd "$nrt" | value ns_per_op)
tf_s=$(sandbox "$work/timer_roundtrip" timerfd "$nrt" | value ns_per_op)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) x ${cpu:-unknown CPU}, Linux $(uname -r), with bench/timers.sh (flags: ${BENCH_FLAGS:-none})."
echo
echo "| timer benchmark | native | sandbox | sandbox - native / ratio |"
echo "|---|---:|---:|---:|"
for row in "1 ms timer lateness, median|$(value median_us <<<"$j1n")|$(value median_us <<<"$j1s")" \
	"1 ms timer lateness, p99|$(value p99_us <<<"$j1n")|$(value p99_us <<<"$j1s")" \
	"10 ms timer lateness, median|$(value median_us <<<"$j10n")|$(value median_us <<<"$j10s")" \
	"10 ms timer lateness, p99|$(value p99_us <<<"$j10n")|$(value p99_us <<<"$j10s")"; do
	IFS='|' read -r name a b <<<"$row"
	echo "| $name | ${a:-n/a} µs | ${b:-n/a} µs | $(diffus "$a" "$b") |"
done
echo "| nanosleep(0) round trip | $(us "$ns_n") | $(us "$ns_s") | $(ratio "$ns_n" "$ns_s") |"
echo "| timerfd arm 1 µs + read round trip | $(us "$tf_n") | $(us "$tf_s") | $(ratio "$tf_n" "$tf_s") |"
echo
echo "Lateness: how long after its expiry a periodic timerfd's read returned (timer_jitter.c); target (issue 6 item 4): a 10 ms sleep within ±2 ms of native's median (test/timers_test.go TestTimerSleepAccuracy)."
