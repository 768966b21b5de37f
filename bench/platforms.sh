#!/usr/bin/env bash
# platforms.sh: the getpid round trip natively and on each platform that
# runs here (ptrace, systrap with its default adaptive spin, systrap
# without spin), in interleaved rounds of one run, with the load average
# before and after. Prints a markdown table of the medians (µs per
# getpid) and each platform's ratio to native.
#
#   ROUNDS=N    interleaved rounds (default 5)
#   RUNSC_LITE_BIN=PATH   the binary to measure (else built here)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-platforms.XXXXXX)
trap 'rm -rf "$work"' EXIT
. bench/lib.sh
rl=$(runsc_lite_bin "$work")
gcc -static -O2 -Wall -Werror -o "$work/getpid" bench/getpid.c
rounds=${ROUNDS:-5}
value() { awk '/ns_per_op/ {print $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A res
for ((i = 0; i < rounds; i++)); do
	res[native]+="$("$work/getpid" 1000000 3 | value) "
	res[ptrace]+="$("$rl" --platform=ptrace do -- "$work/getpid" 50000 3 | value) "
	res[systrap]+="$("$rl" --platform=systrap do -- "$work/getpid" 50000 3 | value) "
	res[systrap_nospin]+="$(RUNSC_LITE_SYSTRAP_SPIN_US=0 "$rl" --platform=systrap do -- "$work/getpid" 50000 3 | value) "
	echo "platforms: round $((i + 1)) of $rounds" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
n=$(tr ' ' '\n' <<<"${res[native]}" | grep . | median)
echo "getpid round trip, median of $rounds interleaved rounds; load average $load0 before, $load1 after; $(nproc) CPUs"
echo
echo "| platform | µs per getpid | ratio to native |"
echo "|---|---|---|"
for k in native ptrace systrap systrap_nospin; do
	m=$(tr ' ' '\n' <<<"${res[$k]}" | grep . | median)
	label=$k
	[ "$k" = systrap ] && label="systrap (adaptive spin)"
	[ "$k" = systrap_nospin ] && label="systrap (RUNSC_LITE_SYSTRAP_SPIN_US=0)"
	awk -v l="$label" -v m="$m" -v n="$n" 'BEGIN { printf "| %s | %.2f | %.1fx |\n", l, m / 1000, m / n }'
done
