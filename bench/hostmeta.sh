#!/bin/bash
# hostmeta.sh: metadata of host files — `ls -l /usr/bin` and
# `ls -lR /usr/share/doc` — natively and in runsc-lite, with a second
# runsc-lite binary beside it when BEFORE_BIN is set (a build from before a
# change), in one run, rounds interleaved so every environment sees the
# same load. Each sandboxed round is one sandbox running the command N
# times (start-up is paid once per round and included).
#
#   bench/hostmeta.sh            ROUNDS=3 N=10 (ls -l), NR=2 (ls -lR)
#   BEFORE_BIN=/tmp/old bench/hostmeta.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rl=$(runsc_lite_bin "$work")
rounds=${ROUNDS:-3}
n=${N:-10}
nr=${NR:-2}
loop_l="for i in \$(seq $n); do ls -l /usr/bin >/dev/null; done"
loop_r="for i in \$(seq $nr); do ls -lR /usr/share/doc >/dev/null; done"

# ms CMD...: wall milliseconds of CMD.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

declare -A best
envs=(native runsc-lite)
[ -n "${BEFORE_BIN:-}" ] && envs+=(runsc-lite-before)
for ((r = 0; r < rounds; r++)); do
	for e in "${envs[@]}"; do
		for w in l r; do
			loop=loop_$w
			case $e in
			native) t=$(ms /bin/sh -c "${!loop}") ;;
			runsc-lite) t=$(ms "$rl" do -- /bin/sh -c "${!loop}") ;;
			runsc-lite-before) t=$(ms "$BEFORE_BIN" do -- /bin/sh -c "${!loop}") ;;
			esac
			k="$e/$w"
			if [ -z "${best[$k]:-}" ] || [ "$t" -lt "${best[$k]}" ]; then best[$k]=$t; fi
		done
	done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); best of $rounds rounds"
printf '| environment | ls -l /usr/bin (ms per run) | ratio | ls -lR /usr/share/doc (ms per run) | ratio |\n|---|---|---|---|---|\n'
for e in "${envs[@]}"; do
	l=$((best[$e/l] / n))
	r=$((best[$e/r] / nr))
	nl=$((best[native/l] / n))
	nrr=$((best[native/r] / nr))
	printf '| %s | %d | %s | %d | %s |\n' "$e" "$l" "$(awk -v a="$l" -v b="$nl" 'BEGIN{printf "%.1fx", a/b}')" \
		"$r" "$(awk -v a="$r" -v b="$nrr" 'BEGIN{printf "%.1fx", a/b}')"
done
