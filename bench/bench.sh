#!/usr/bin/env bash
# bench.sh: runsc-lite against native, measured in the same run.
#
# Builds runsc-lite and the static C benchmarks in bench/, runs each natively
# and under `runsc-lite do`, and prints a markdown table (benchmark, native,
# sandbox, ratio) ready to paste into BENCHMARKS.md, followed by the bare C
# tracer's limit (platform/ptrace/testdata/bare_tracer.c, when present) and
# the issue's targets.
#
#   getpid           N raw getpid syscalls, ns per call (self-timed)
#   open+read+close  of a small file, ns per iteration (self-timed)
#   /dev/null 64MiB  64 MiB written in 4 KiB writes, ms (self-timed)
#   fork+exit+wait   ns per child (self-timed; bench/forkexit.c)
#   fork+execve+wait of /bin/true, ns per child (self-timed; bench/forkexec.c)
#   pipe ping-pong   between two processes, ns per round trip (bench/pipepong.c)
#   thread create+join  ns per thread (self-timed; bench/threadjoin.c)
#   futex wake-up    latency between two threads, ns per wake-up (bench/futexwake.c)
#   do /bin/true     start-up: hyperfine when available (installed with apt-get
#                    when missing and possible), else 20 runs timed with date
#
# Self-timed programs, and the bare tracer, report the median of 5 rounds. Environment knobs:
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   BENCH_FLAGS="..."     extra runsc-lite flags (e.g. "--platform ptrace")
#   BENCH_QUICK=1         fewer iterations (a smoke test of the script)
# Progress goes to stderr; only the report goes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d /tmp/runsc-lite-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

log() { echo "bench: $*" >&2; }

# Iteration counts: the sandbox pays microseconds per syscall, native tens
# of nanoseconds, so each side gets enough work for a stable median.
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	getpid_native=100000 getpid_sandbox=5000 or_native=20000 or_sandbox=1000 rounds=3 startup_runs=5
	fe_native=200 fe_sandbox=20 fx_native=50 fx_sandbox=5 pp_native=2000 pp_sandbox=200
	tj_native=500 tj_sandbox=30 fw_native=2000 fw_sandbox=200
else
	getpid_native=2000000 getpid_sandbox=100000 or_native=200000 or_sandbox=20000 rounds=5 startup_runs=20
	fe_native=2000 fe_sandbox=200 fx_native=300 fx_sandbox=40 pp_native=20000 pp_sandbox=2000
	tj_native=5000 tj_sandbox=300 fw_native=20000 fw_sandbox=2000
fi

# --- build -----------------------------------------------------------------
. bench/lib.sh
rl=$(runsc_lite_bin "$work")
for prog in getpid openread devnull forkexit forkexec pipepong threadjoin futexwake; do
	gcc -static -O2 -Wall -Werror -o "$work/$prog" "bench/$prog.c"
done
printf 'hello from a small file\n' >"$work/small.txt"
read -r -a flags <<<"${BENCH_FLAGS:-}"
sandbox() { "$rl" do "${flags[@]}" -- "$@"; }

# Sanity: the sandbox must run at all.
if ! out=$(sandbox /bin/true 2>&1); then
	echo "bench: runsc-lite do -- /bin/true fails; nothing to measure:" >&2
	echo "$out" >&2
	exit 1
fi

# value KEY: the number after "KEY:" in stdin.
value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2fx", b / a; else print "n/a" }'; }
us() { awk -v ns="$1" 'BEGIN { if (ns == "") print "n/a"; else if (ns >= 1000) printf "%.2f µs", ns / 1000; else printf "%.0f ns", ns }'; }

# --- self-timed benchmarks ---------------------------------------------------
log "getpid"
gp_n=$("$work/getpid" "$getpid_native" "$rounds" | value ns_per_op)
gp_s=$(sandbox "$work/getpid" "$getpid_sandbox" "$rounds" | value ns_per_op)
# The bare tracer limit, measured right after the sandbox getpid so that both
# see the same machine load.
bare=""
bare_src=platform/ptrace/testdata/bare_tracer.c
if [ -f "$bare_src" ]; then
	log "bare C tracer"
	if gcc -O2 -o "$work/bare_tracer" "$bare_src" 2>"$work/bare.err"; then
		# Pinned to one host CPU: the sandbox pins each stub thread to
		# its tracer's host CPU, so an unpinned bare tracer (whose two
		# processes land on different CPUs and pay cross-CPU wake-ups,
		# 60 µs+ per round trip on an idle VM) would not be the same
		# physical limit.
		pin=""
		command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
		bare_out=$($pin "$work/bare_tracer" 200000 5 2>&1 || true)
		# The median of its rounds, as for our own programs; else its "best".
		bare=$(printf '%s\n' "$bare_out" | sed -n 's/^bare_tracer: *\([0-9.]*\) ns.*/\1/p' | sort -n |
			awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		[ -n "$bare" ] || bare=$(printf '%s\n' "$bare_out" | value best)
	else
		log "bare_tracer.c does not compile: $(cat "$work/bare.err")"
	fi
fi

log "open+read+close"
or_n=$("$work/openread" "$work/small.txt" "$or_native" "$rounds" | value ns_per_op)
or_s=$(sandbox "$work/openread" "$work/small.txt" "$or_sandbox" "$rounds" | value ns_per_op)
log "/dev/null 64 MiB"
dn_n=$("$work/devnull" "$rounds" | value ms_total)
dn_s=$(sandbox "$work/devnull" "$rounds" | value ms_total)

# Processes and threads (issue 3).
log "fork+exit+wait"
fe_n=$("$work/forkexit" "$fe_native" "$rounds" | value ns_per_op)
fe_s=$(sandbox "$work/forkexit" "$fe_sandbox" "$rounds" | value ns_per_op)
log "fork+execve(/bin/true)+wait"
fx_n=$("$work/forkexec" "$fx_native" "$rounds" | value ns_per_op)
fx_s=$(sandbox "$work/forkexec" "$fx_sandbox" "$rounds" | value ns_per_op)
log "pipe ping-pong"
pp_n=$("$work/pipepong" "$pp_native" "$rounds" | value ns_per_op)
pp_s=$(sandbox "$work/pipepong" "$pp_sandbox" "$rounds" | value ns_per_op)
log "thread create+join"
tj_n=$("$work/threadjoin" "$tj_native" "$rounds" | value ns_per_op)
tj_s=$(sandbox "$work/threadjoin" "$tj_sandbox" "$rounds" | value ns_per_op)
log "futex wake-up"
fw_n=$("$work/futexwake" "$fw_native" "$rounds" | value ns_per_op)
fw_s=$(sandbox "$work/futexwake" "$fw_sandbox" "$rounds" | value ns_per_op)
# per_sec NS: operations per second at NS nanoseconds each.
per_sec() { awk -v ns="$1" 'BEGIN { if (ns == "" || ns <= 0) print "n/a"; else printf "%.0f/s", 1e9 / ns }'; }

# --- start-up ----------------------------------------------------------------
startup_method=""
if ! command -v hyperfine >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	log "installing hyperfine"
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null 2>&1; }; } || true
fi
# mean_ms CMD...: mean wall time of CMD in milliseconds.
if command -v hyperfine >/dev/null 2>&1; then
	startup_method="hyperfine, $startup_runs runs after 3 warm-ups"
	mean_ms() {
		hyperfine -N --warmup 3 --runs "$startup_runs" --export-json "$work/h.json" "$*" >/dev/null 2>&1 ||
			hyperfine --warmup 3 --runs "$startup_runs" --export-json "$work/h.json" "$*" >/dev/null
		# The first "mean" in the export is the command's, in seconds.
		grep -o '"mean": *[0-9.e+-]*' "$work/h.json" | head -n 1 | sed 's/.*: *//' | awk '{ printf "%.2f", $1 * 1000 }'
	}
else
	startup_method="$startup_runs runs timed with date +%s%N (no hyperfine)"
	mean_ms() {
		"$@" >/dev/null 2>&1 || true # warm-up
		local t0 t1
		t0=$(date +%s%N)
		for _ in $(seq "$startup_runs"); do "$@" >/dev/null; done
		t1=$(date +%s%N)
		awk -v d="$((t1 - t0))" -v n="$startup_runs" 'BEGIN { printf "%.2f", d / n / 1e6 }'
	}
fi
log "start-up ($startup_method)"
st_n=$(mean_ms /bin/true)
st_s=$(mean_ms "$rl" do "${flags[@]}" -- /bin/true)

# --- report ------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) x ${cpu:-unknown CPU}, Linux $(uname -r), with \`make bench\` (bench/bench.sh; flags: ${BENCH_FLAGS:-none})."
echo
echo "| benchmark | native | sandbox | ratio |"
echo "|---|---:|---:|---:|"
echo "| getpid round trip | $(us "$gp_n") | $(us "$gp_s") | $(ratio "$gp_n" "$gp_s") |"
echo "| open+read+close of a small file | $(us "$or_n") | $(us "$or_s") | $(ratio "$or_n" "$or_s") |"
echo "| 64 MiB to /dev/null in 4 KiB writes | ${dn_n:-n/a} ms | ${dn_s:-n/a} ms | $(ratio "$dn_n" "$dn_s") |"
echo "| fork+exit+wait | $(us "$fe_n") | $(us "$fe_s") | $(ratio "$fe_n" "$fe_s") |"
echo "| fork+execve(/bin/true)+wait | $(us "$fx_n") | $(us "$fx_s") | $(ratio "$fx_n" "$fx_s") |"
echo "| pipe ping-pong between two processes, per round trip ($(per_sec "$pp_n") native, $(per_sec "$pp_s") sandbox) | $(us "$pp_n") | $(us "$pp_s") | $(ratio "$pp_n" "$pp_s") |"
echo "| thread create+join | $(us "$tj_n") | $(us "$tj_s") | $(ratio "$tj_n" "$tj_s") |"
echo "| futex wake-up latency between two threads | $(us "$fw_n") | $(us "$fw_s") | $(ratio "$fw_n" "$fw_s") |"
echo "| \`do -- /bin/true\` start-up ($startup_method) | ${st_n:-n/a} ms | ${st_s:-n/a} ms | $(ratio "$st_n" "$st_s") |"
echo
if [ -n "$bare" ]; then
	echo "| physical limit | bare C tracer | sandbox getpid | ratio |"
	echo "|---|---:|---:|---:|"
	echo "| PTRACE_SYSEMU + GETREGS/SETREGS round trip ($bare_src) | $(us "$bare") | $(us "$gp_s") | $(ratio "$bare" "$gp_s") |"
else
	echo "(no bare tracer: $bare_src is absent or did not build)"
fi
echo
echo "Targets (issue 2): getpid within 1.4x of the bare tracer, open+read+close under 30 µs, start-up under 50 ms."
