#!/usr/bin/env bash
# workloads.sh: real programs as the measure (issue 16 item 7), natively,
# in runsc-lite on every platform that runs here and in gVisor's runsc on
# systrap and ptrace, side by side in one run (the environments of
# bench/lib.sh, as bench/bench.sh). Wall time of each whole workload:
#
#   gotime     Go's time package tests (go test -c time; -test.short, in
#              $GOROOT/src/time)
#   goexec     Go's os/exec package tests (the same; tests that
#              test/gostd-known.txt lists as failing in the sandbox are
#              skipped everywhere, so all environments run the same set)
#   python     /usr/bin/python3 -m test test_threading test_subprocess test_os
#              (Debian's libpython3.11-testsuite; apt-get installs it when
#              missing and possible)
#   make       make -j2 of a generated C project of 200 files (clean first)
#   coreutils  sh -c: 100 rounds of sort|uniq|wc, ls -l, sha256sum, grep, sed
#
# Each workload runs $WORKLOAD_ROUNDS times (default 1: the whole set takes
# 15-30 minutes on a loaded 2-core machine) in every environment, rounds
# interleaved; medians are reported. A run is bounded by $BENCH_TIMEOUT
# seconds (default 900 here). A workload that fails (non-zero exit) is
# reported loudly with its output's tail and listed under the table; the
# script then exits 1. Progress goes to stderr, the markdown table to
# stdout. Knobs: those of bench.sh (RUNSC_LITE_BIN, BENCH_FLAGS,
# BENCH_PLATFORMS, GVISOR=0, BENCH_TSV=FILE) and
#   WORKLOADS="gotime ..."   only these workloads
#   WORKLOAD_ROUNDS=N        rounds (default 1)
#   WORKLOAD_COUNTERS=1      also report, for runsc-lite, the sandbox kernel's
#                            context switches (/proc/stat ctxt, read inside
#                            the sandbox) per second of each workload
#   WORKLOAD_PROFILE=DIR     write a CPU profile of runsc-lite's sentry per
#                            run into DIR (runsc-lite do --profile-cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-workloads.XXXXXX)
trap 'rm -rf "$work"' EXIT
. bench/lib.sh
log() { echo "workloads: $*" >&2; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
export BENCH_TIMEOUT=${BENCH_TIMEOUT:-900}
rounds=${WORKLOAD_ROUNDS:-1}
all="gotime goexec python make coreutils"
only=" ${WORKLOADS:-$all} "
goroot=$(go env GOROOT)
py=/usr/bin/python3

# --- the workloads' programs ------------------------------------------------
if [[ $only == *" gotime "* ]] || [[ $only == *" goexec "* ]]; then
	log "building Go's time and os/exec test binaries"
	CGO_ENABLED=0 go test -c -o "$work/time.test" time
	CGO_ENABLED=0 go test -c -o "$work/exec.test" os/exec
fi
# gotest PKG: the script running PKG's test binary in its source directory,
# skipping the tests gostd-known.txt lists for PKG.
gotest() {
	local names
	names=$(awk -v p="$1" '$1 == p && $2 ~ /^(Test|Example)/ { print $2 }' test/gostd-known.txt | paste -sd '|')
	printf 'cd "%s/src/%s" && exec "%s/%s.test" -test.short' "$goroot" "$1" "$work" "${1#os/}"
	[ -z "$names" ] || printf " -test.skip '^(%s)\$'" "$names"
	echo
}
gotest time >"$work/gotime.sh"
gotest os/exec >"$work/goexec.sh"

if [[ $only == *" python "* ]] && [ ! -f /usr/lib/python3.11/test/test_os.py ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		log "installing libpython3.11-testsuite"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpython3.11-testsuite >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpython3.11-testsuite >/dev/null 2>&1; } ||
			{ echo "workloads: FAILED to install libpython3.11-testsuite (WORKLOADS=... leaves python out)" >&2; exit 1; }
	else
		echo "workloads: CPython's test suite is missing: apt-get install libpython3.11-testsuite (or leave python out with WORKLOADS=...)" >&2
		exit 1
	fi
fi
mkdir -p "$work/py"
echo "cd '$work/py' && exec $py -m test test_threading test_subprocess test_os" >"$work/python.sh"

# A C project of 200 files: each defines a few functions over a shared
# header, main calls one from each.
proj=$work/cproj
mkdir -p "$proj"
{
	echo '#include <stddef.h>'
	for i in $(seq 0 199); do echo "long f$i(long x);"; done
} >"$proj/all.h"
for i in $(seq 0 199); do
	{
		echo '#include "all.h"'
		echo '#include <string.h>'
		echo "static long g$i(const char *s) { long h = $i; for (size_t k = 0; k < strlen(s); k++) h = h * 31 + s[k]; return h; }"
		echo "struct s$i { long a[8]; int n; };"
		echo "static void fill$i(struct s$i *s, long x) { for (int k = 0; k < 8; k++) s->a[k] = x ^ (k * $i); s->n = 8; }"
		echo "long f$i(long x) { struct s$i s; fill$i(&s, x); long t = g$i(\"file $i\"); for (int k = 0; k < s.n; k++) t += s.a[k]; return t; }"
	} >"$proj/f$i.c"
done
{
	echo '#include <stdio.h>'
	echo '#include "all.h"'
	echo 'int main(void) { long t = 0;'
	for i in $(seq 0 199); do echo "t += f$i(t);"; done
	echo 'printf("%ld\n", t); return 0; }'
} >"$proj/main.c"
{
	printf 'OBJS = main.o'
	for i in $(seq 0 199); do printf ' f%d.o' "$i"; done
	printf '\nprog: $(OBJS)\n\tgcc -o $@ $(OBJS)\n%%.o: %%.c all.h\n\tgcc -O2 -c -o $@ $<\nclean:\n\trm -f prog *.o\n'
} >"$proj/Makefile"
echo "cd '$proj' && make -s clean && make -s -j2 && ./prog >/dev/null" >"$work/make.sh"

{
	echo 'for i in $(seq 1 100); do'
	echo '	sort /etc/services | uniq | wc -l >/dev/null'
	echo '	ls -l /usr/bin >/dev/null'
	echo '	sha256sum /etc/services >/dev/null'
	echo '	grep -c tcp /etc/services >/dev/null'
	echo "	sed -n 's/^\\([a-z]*\\).*/\\1/p' /etc/services | head -n 5 >/dev/null"
	echo 'done'
} >"$work/coreutils.sh"

bench_setup_envs "$work"
failed=$bench_env_failed

# --- measurement -------------------------------------------------------------
# run_one KEY ENV: runs workload KEY once in ENV, its output in $work/out;
# prints its wall time in ns and returns its exit status.
run_one() {
	local key=$1 env=$2 script="$work/$1.sh" extra=()
	if [ "${WORKLOAD_COUNTERS:-0}" = 1 ] && [[ $env == runsc-lite-* ]]; then
		{
			echo 'grep "^ctxt" /proc/stat'
			echo "( . '$work/$key.sh' )"
			echo 'rc=$?; grep "^ctxt" /proc/stat; exit $rc'
		} >"$work/$key.counted.sh"
		script="$work/$key.counted.sh"
	fi
	if [ -n "${WORKLOAD_PROFILE:-}" ] && [[ $env == runsc-lite-* ]]; then
		mkdir -p "$WORKLOAD_PROFILE"
		extra=(--profile-cpu "$(realpath "$WORKLOAD_PROFILE")/$key-$env.pprof")
	fi
	local t0 t1 rc=0
	t0=$(date +%s%N)
	(
		flags+=("${extra[@]}")
		in_env "$env" /bin/sh "$script"
	) >"$work/out" 2>&1 || rc=$?
	t1=$(date +%s%N)
	echo $((t1 - t0))
	return $rc
}

declare -A vals=() ctxt=()
fails=()
# measure_one KEY ENV LABEL: one run (bench_runs), recorded in vals (and
# ctxt), a failure in fails.
measure_one() {
	local key=$1 env=$2 ns c rc=0
	log "$3 ..."
	ns=$(run_one "$key" "$env") || rc=$?
	if [ "$rc" != 0 ]; then
		[ "$rc" = 124 ] && log "TIMEOUT after ${timeout_s}s"
		echo "workloads: FAILED: $key in $env (exit $rc) after $((ns / 1000000)) ms; its output ends:" >&2
		tail -n 15 "$work/out" | sed 's/^/    /' >&2
		fails+=("$key in $env (exit $rc)")
		failed=1
		[ "$rc" = 124 ] && return
	fi
	vals[$key/$env]+="$ns "
	c=$(sed -n 's/^ctxt \([0-9]*\)$/\1/p' "$work/out" | sed -n '1p;$p' | paste -sd ' ')
	if [[ $c == *" "* ]]; then
		ctxt[$key/$env]=$(awk -v c="$c" -v ns="$ns" 'BEGIN { split(c, a, " "); printf "%.0f (%d in %.1f s)", (a[2] - a[1]) / (ns / 1e9), a[2] - a[1], ns / 1e9 }')
		log "    context switches per second inside: ${ctxt[$key/$env]}"
	fi
	log "    $(awk -v ns="$ns" 'BEGIN { printf "%.2f s", ns / 1e9 }') (load $(cut -d' ' -f1 /proc/loadavg))"
}
bench_runs "$all" measure_one

# --- report ------------------------------------------------------------------
tsv=$work/results.tsv
bench_write_tsv "$tsv" "workloads.sh results: wall time, median of $rounds interleaved round(s)"
echo "Measured $(date -u +%Y-%m-%d) on $(bench_host), with \`make bench-workloads\` (bench/workloads.sh); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end. Wall time, median of $rounds interleaved round(s); ratio to native in parentheses."
echo
bench_table "$tsv"
if [ "${#fails[@]}" -gt 0 ]; then
	echo
	echo "Failed runs (their times are in the table unless they timed out): $(printf '%s; ' "${fails[@]}" | sed 's/; $//')."
fi
if [ "${#ctxt[@]}" -gt 0 ]; then
	echo
	echo "| workload/environment | sandbox kernel context switches per second (/proc/stat ctxt, read inside) |"
	echo "|---|---|"
	for k in "${!ctxt[@]}"; do echo "| $k | ${ctxt[$k]} |"; done | sort
fi
[ "$failed" = 0 ] || exit 1
