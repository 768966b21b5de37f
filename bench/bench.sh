#!/usr/bin/env bash
# bench.sh: runsc-lite against native and against gVisor's runsc, side by
# side in one run (issue 16 item 6).
#
# Builds runsc-lite, the static C benchmarks in bench/ and (bench/gvisor.sh)
# gVisor's runsc, and runs each benchmark in every environment:
#
#   native              the program on the host
#   runsc-lite-P        `runsc-lite do --platform=P`, for every platform P of
#                       $BENCH_PLATFORMS (default "ptrace systrap kvm") that
#                       runs /bin/true on this host; the others are skipped
#                       with the reason
#   gvisor-systrap      `runsc --network=none --ignore-cgroups --platform=systrap do`
#   gvisor-ptrace       the same on ptrace
#
# Benchmarks (self-timed programs print the median of their own rounds):
#
#   getpid           N raw getpid syscalls, ns per call (bench/getpid.c)
#   open+read+close  of a small file, ns per iteration (bench/openread.c)
#   /dev/null 64MiB  64 MiB written in 4 KiB writes (bench/devnull.c)
#   fork+exit+wait   ns per child (bench/forkexit.c)
#   fork+execve+wait of /bin/true, ns per child (bench/forkexec.c)
#   thread create+join  ns per thread (bench/threadjoin.c)
#   pipe ping-pong   between two processes, ns per round trip (bench/pipepong.c)
#   futex wake-up    between two threads, ns per wake-up (bench/futexwake.c)
#   do /bin/true     start-up: the median wall time of hyperfine's runs
#                    (installed with apt-get when missing and possible), else
#                    of runs timed with date
#
# Each benchmark runs $BENCH_ROUNDS times (default 3) in every environment,
# rounds interleaved so that all environments see the same load, and the
# median is reported. Every command is bounded by $BENCH_TIMEOUT seconds
# (default 300); a run that fails or times out is reported loudly, shown
# as "fail" and makes the script exit 1 after the table.
#
# Output: a markdown table on stdout (the ratios to native in parentheses,
# then runsc-lite against the faster gVisor platform), followed by the bare
# C tracer's limit. Progress goes to stderr. Environment knobs:
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   BENCH_FLAGS="..."     extra runsc-lite do flags (not --platform)
#   BENCH_PLATFORMS="..." runsc-lite platforms to try (default "ptrace systrap kvm")
#   GVISOR=0              leave gVisor out (its build failing is otherwise an error)
#   BENCH_ROUNDS=N        outer rounds (default 3)
#   BENCH_TIMEOUT=S       bound on each command (default 300)
#   BENCH_ONLY="k1 k2"    only these benchmarks (keys: bench_keys in bench/lib.sh)
#   BENCH_TSV=FILE        also write the results as TSV (bench/lib.sh;
#                         bench/compare.sh reads them)
#   BENCH_QUICK=1         fewer iterations (a smoke test of the script)
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
. bench/lib.sh

log() { echo "bench: $*" >&2; }
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# Iteration counts: the sandboxes pay microseconds per syscall (up to
# ~100 µs for gVisor's ptrace on a loaded host), native tens of
# nanoseconds, so each side gets enough work for a stable median and the
# slowest environment stays within seconds per run.
inner=3 rounds=${BENCH_ROUNDS:-3} startup_runs=10
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	getpid_native=100000 getpid_sandbox=3000 or_native=20000 or_sandbox=500
	fe_native=200 fe_sandbox=10 fx_native=50 fx_sandbox=5 pp_native=2000 pp_sandbox=100
	tj_native=500 tj_sandbox=20 fw_native=2000 fw_sandbox=100
	rounds=${BENCH_ROUNDS:-1} startup_runs=3
else
	getpid_native=2000000 getpid_sandbox=30000 or_native=200000 or_sandbox=5000
	fe_native=2000 fe_sandbox=100 fx_native=300 fx_sandbox=30 pp_native=20000 pp_sandbox=1000
	tj_native=5000 tj_sandbox=200 fw_native=20000 fw_sandbox=1000
fi
only=" ${BENCH_ONLY:-$bench_keys} "

# --- build -----------------------------------------------------------------
for prog in getpid openread devnull forkexit forkexec pipepong threadjoin futexwake; do
	gcc -static -O2 -Wall -Werror -Ibench -o "$work/$prog" "bench/$prog.c"
done
printf 'hello from a small file\n' >"$work/small.txt"
bench_setup_envs "$work"
failed=$bench_env_failed

# --- start-up timing ---------------------------------------------------------
if [[ $only == *" startup "* ]] && ! command -v hyperfine >/dev/null 2>&1 &&
	[ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	log "installing hyperfine"
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null 2>&1; }; } || true
fi
# startup_ns ENV: the median wall time of `ENV /bin/true`, in ns.
if command -v hyperfine >/dev/null 2>&1; then
	startup_method="hyperfine -N, median of $startup_runs runs after 2 warm-ups"
	startup_ns() {
		local cmd
		cmd="$(env_cmd "$1") /bin/true"
		cmd=${cmd# }
		rm -f "$work/h.json"
		timeout "$timeout_s" hyperfine -N --warmup 2 --runs "$startup_runs" --export-json "$work/h.json" "$cmd" >/dev/null 2>&1 ||
			return 1
		grep -o '"median": *[0-9.e+-]*' "$work/h.json" | head -n 1 | sed 's/.*: *//' | awk '{ printf "ns_per_op: %.0f\n", $1 * 1e9 }'
	}
else
	startup_method="median of $startup_runs runs timed with date +%s%N (no hyperfine)"
	startup_ns() {
		in_env "$1" /bin/true >/dev/null 2>&1 || return 1 # warm-up
		local t0 t1
		for _ in $(seq "$startup_runs"); do
			t0=$(date +%s%N)
			in_env "$1" /bin/true >/dev/null || return 1
			t1=$(date +%s%N)
			echo $((t1 - t0))
		done | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "ns_per_op: %.0f\n", v[int((NR + 1) / 2)] }'
	}
fi

# --- measurement ---------------------------------------------------------------
# cmd_for KEY ENV: the command line measuring KEY in ENV (the iteration
# count depends on whether ENV is native); it prints "ns_per_op: X" or
# "ms_total: X".
cmd_for() {
	local n=native
	[ "$2" = native ] || n=sandbox
	local -n c="cnt_$n"
	case $1 in
	getpid) echo "$work/getpid ${c[getpid]} $inner" ;;
	openread) echo "$work/openread $work/small.txt ${c[openread]} $inner" ;;
	devnull) echo "$work/devnull $inner" ;;
	forkexit) echo "$work/forkexit ${c[forkexit]} $inner" ;;
	forkexec) echo "$work/forkexec ${c[forkexec]} $inner" ;;
	threadjoin) echo "$work/threadjoin ${c[threadjoin]} $inner" ;;
	pipepong) echo "$work/pipepong ${c[pipepong]} $inner" ;;
	futexwake) echo "$work/futexwake ${c[futexwake]} $inner" ;;
	esac
}
declare -A cnt_native=([getpid]=$getpid_native [openread]=$or_native [forkexit]=$fe_native
	[forkexec]=$fx_native [threadjoin]=$tj_native [pipepong]=$pp_native [futexwake]=$fw_native)
declare -A cnt_sandbox=([getpid]=$getpid_sandbox [openread]=$or_sandbox [forkexit]=$fe_sandbox
	[forkexec]=$fx_sandbox [threadjoin]=$tj_sandbox [pipepong]=$pp_sandbox [futexwake]=$fw_sandbox)

# measure KEY ENV: one run; prints the result in ns, or nothing on failure
# (reported on stderr with the run's output).
measure() {
	local out rc=0
	if [ "$1" = startup ]; then
		out=$(startup_ns "$2" 2>&1) || rc=$?
	else
		read -r -a cmd <<<"$(cmd_for "$1" "$2")"
		out=$(in_env "$2" "${cmd[@]}" 2>&1) || rc=$?
	fi
	local v
	v=$(printf '%s\n' "$out" | sed -n 's/^ns_per_op: *\([0-9.]*\).*/\1/p' | tail -n 1)
	[ -n "$v" ] || v=$(printf '%s\n' "$out" | sed -n 's/^ms_total: *\([0-9.]*\).*/\1/p' | tail -n 1 | awk '{ if ($1 != "") printf "%.0f", $1 * 1e6 }')
	if [ "$rc" != 0 ] || [ -z "$v" ]; then
		[ "$rc" = 124 ] && log "TIMEOUT after ${timeout_s}s"
		echo "bench: FAILED: $1 in $2 (exit $rc):" >&2
		printf '%s\n' "$out" | tail -n 5 | sed 's/^/    /' >&2
		return 1
	fi
	echo "$v"
}
human() { awk -v ns="$1" 'BEGIN { if (ns >= 1e6) printf "%.2f ms", ns / 1e6; else if (ns >= 1e3) printf "%.2f µs", ns / 1e3; else printf "%.0f ns", ns }'; }

declare -A vals
# measure_one KEY ENV LABEL: one run (bench_runs), recorded in vals.
measure_one() {
	local v
	if v=$(measure "$1" "$2"); then
		vals[$1/$2]+="$v "
		log "$3: $(human "$v") (load $(cut -d' ' -f1 /proc/loadavg))"
	else
		failed=1
	fi
}
bench_runs "$bench_keys" measure_one

# The bare tracer limit: the physical floor of a ptrace round trip, next
# to the ptrace platform's getpid.
bare=""
bare_src=platform/ptrace/testdata/bare_tracer.c
if [[ $only == *" getpid "* ]] && [ -f "$bare_src" ]; then
	log "bare C tracer"
	if gcc -O2 -o "$work/bare_tracer" "$bare_src" 2>"$work/bare.err"; then
		# Pinned to one host CPU: the sandbox pins each stub thread to
		# its tracer's host CPU, so an unpinned bare tracer (whose two
		# processes land on different CPUs and pay cross-CPU wake-ups)
		# would not be the same physical limit.
		pin=""
		command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
		bare_out=$(timeout "$timeout_s" $pin "$work/bare_tracer" 200000 5 2>&1 || true)
		bare=$(printf '%s\n' "$bare_out" | sed -n 's/^bare_tracer: *\([0-9.]*\) ns.*/\1/p' | median)
	else
		log "bare_tracer.c does not compile: $(cat "$work/bare.err")"
	fi
fi

# --- report ------------------------------------------------------------------
tsv=$work/results.tsv
bench_write_tsv "$tsv" "bench.sh results: median of $rounds interleaved rounds, each the median of $inner inner rounds" \
	"flags: ${BENCH_FLAGS:-none}; start-up: $startup_method"

echo "Measured $(date -u +%Y-%m-%d) on $(bench_host), with \`make bench\` (bench/bench.sh; runsc-lite flags: ${BENCH_FLAGS:-none}); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end. Medians of $rounds interleaved rounds; ratio to native in parentheses; start-up: $startup_method."
echo
bench_table "$tsv"
echo
gp_pt=$(awk -F '\t' '$1 == "getpid" && $2 == "runsc-lite-ptrace" { print $3 }' "$tsv")
if [ -n "$bare" ] && [ -n "$gp_pt" ]; then
	echo "| physical limit | bare C tracer | runsc-lite ptrace getpid | ratio |"
	echo "|---|---:|---:|---:|"
	echo "| PTRACE_SYSEMU + GETREGS/SETREGS round trip ($bare_src) | $(human "$bare") | $(human "$gp_pt") | $(awk -v a="$bare" -v b="$gp_pt" 'BEGIN { printf "%.2fx", b / a }') |"
fi
if [ "$failed" != 0 ]; then
	echo "bench: some runs FAILED (above); their cells read \"fail\"" >&2
	exit 1
fi
