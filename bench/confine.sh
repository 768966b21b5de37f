#!/usr/bin/env bash
# confine.sh: what the sentry's confinement costs, measured in one run:
# `do -- /bin/true` start-up and the getpid round trip, confined (the
# default) and --unconfined, alternating so that both see the same machine
# load. Prints a markdown table for BENCHMARKS.md.
#
#   RUNSC_LITE_BIN=PATH   use this binary instead of building one
#   BASE_BIN=PATH         also measure this runsc-lite (e.g. one built from
#                         before the launcher), start-up only
#   ROUNDS=N              getpid rounds per mode (default 5)
# Start-up uses hyperfine (installed with apt-get when missing and
# possible); its median is reported, as the mean is at the mercy of a
# loaded host.
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-confine-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
log() { echo "confine.sh: $*" >&2; }

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
gcc -static -O2 -Wall -Werror -o "$work/getpid" bench/getpid.c
rounds=${ROUNDS:-5}

if ! command -v hyperfine >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	log "installing hyperfine"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null 2>&1 || true
fi
command -v hyperfine >/dev/null 2>&1 || { log "no hyperfine"; exit 1; }

# median_ms CMD...: hyperfine's median of CMD, in ms.
median_ms() {
	if ! hyperfine -N --warmup 3 --runs 40 --export-json "$work/h.json" "$*" >"$work/h.out" 2>&1; then
		log "hyperfine $*: $(tail -n 3 "$work/h.out")"
		return 1
	fi
	awk -F'"median": *' 'NF > 1 { split($2, v, /[,}]/); printf "%.1f", v[1] * 1000; exit }' "$work/h.json"
	# The CPU time (user + system, mean) after a slash: less at the
	# mercy of other processes than the wall time.
	awk -F'"(user|system)": *' 'NF > 1 { split($2, v, /[,}]/); cpu += v[1] } END { printf "/%.1f", cpu * 1000 }' "$work/h.json"
}
value() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" | tail -n 1; }

log "start-up"
st_c=() st_u=() st_b=() cpu_c=() cpu_u=() cpu_b=()
for _ in 1 2 3; do
	r=$(median_ms "$rl" do -- /bin/true)
	st_c+=("${r%/*}") cpu_c+=("${r#*/}")
	r=$(median_ms "$rl" do --unconfined -- /bin/true 2>/dev/null)
	st_u+=("${r%/*}") cpu_u+=("${r#*/}")
	if [ -n "${BASE_BIN:-}" ]; then
		r=$(median_ms "$BASE_BIN" do -- /bin/true)
		st_b+=("${r%/*}") cpu_b+=("${r#*/}")
	fi
done
log "getpid"
gp_c=() gp_u=()
for _ in $(seq "$rounds"); do
	gp_c+=("$("$rl" do -- "$work/getpid" 100000 3 | value ns_per_op)")
	gp_u+=("$("$rl" do --unconfined -- "$work/getpid" 100000 3 2>/dev/null | value ns_per_op)")
done
# mid: the median of its arguments.
mid() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
cost() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", (b - a) / a * 100 }'; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) x ${cpu:-unknown CPU}, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), with \`bench/confine.sh\`."
echo
echo "| measure | --unconfined | confined (default) | cost |"
echo "|---|---:|---:|---:|"
u=$(mid "${st_u[@]}") c=$(mid "${st_c[@]}")
echo "| \`do -- /bin/true\` start-up, median of 3 × 40 runs | $u ms | $c ms | $(cost "$u" "$c") |"
u=$(mid "${cpu_u[@]}") c=$(mid "${cpu_c[@]}")
echo "| its CPU time (user + system, mean of 40 runs, median of 3) | $u ms | $c ms | $(cost "$u" "$c") |"
u=$(mid "${gp_u[@]}") c=$(mid "${gp_c[@]}")
echo "| getpid round trip, median of $rounds runs | $u ns | $c ns | $(cost "$u" "$c") |"
if [ -n "${BASE_BIN:-}" ]; then
	echo
	echo "Start-up of \`$BASE_BIN\` (the sentry in the CLI process, before the launcher): $(mid "${st_b[@]}") ms, CPU $(mid "${cpu_b[@]}") ms."
fi
