#!/usr/bin/env bash
# compare.sh: the regression guard of issue 16 item 8. Runs bench/bench.sh
# (or reads its results), prints the side-by-side table, then compares every
# runsc-lite ratio to native with the ratio recorded in BENCHMARKS.md and
# exits 1 when one grew by more than 25% (or a recorded benchmark is
# missing or failed). Run it by hand, on a quiet machine, before and after
# performance work; it is not run in CI (timing does not belong there; its
# logic is tested on fake figures by bench/compare_test.sh, which is).
#
#   bench/compare.sh                 run bench.sh, compare with BENCHMARKS.md
#   bench/compare.sh --record        run bench.sh, write its figures into
#                                    BENCHMARKS.md as the new reference
#   bench/compare.sh --from TSV      use bench.sh's TSV (BENCH_TSV=...) instead of running
#   bench/compare.sh --baseline FILE the reference file (default BENCHMARKS.md)
#   bench/compare.sh --threshold X   the allowed growth of a ratio (default 1.25)
#   bench/compare.sh --relative-to ENV  compare ratios to ENV instead of native
#                                    (e.g. gvisor-systrap: another sandbox,
#                                    whose times follow the host's load as
#                                    ours do, while native's swing more)
#
# The reference figures are the ```tsv block of the section between the
# "<!-- bench-baseline -->" and "<!-- /bench-baseline -->" lines of
# BENCHMARKS.md (format: bench/lib.sh); --record rewrites that section
# (the table and the block, so both show the same numbers) and leaves the
# rest of the file alone. Ratios to native measured in one run are compared,
# not times, so the reference holds across machines of the same kind;
# gVisor's columns are shown but not guarded. bench.sh's knobs (BENCH_ROUNDS,
# GVISOR=0, ...) pass through.
# Exit status: 0 no regression, 1 a regression or failed/missing figures,
# 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

usage() {
	echo "usage: bench/compare.sh [--record] [--from TSV] [--baseline FILE] [--threshold X] [--relative-to ENV]" >&2
	exit 2
}
record=0 from="" baseline=BENCHMARKS.md threshold=1.25 ref=native
while [ $# -gt 0 ]; do
	case $1 in
	--record) record=1 ;;
	--from) [ $# -ge 2 ] || usage; from=$2; shift ;;
	--baseline) [ $# -ge 2 ] || usage; baseline=$2; shift ;;
	--threshold) [ $# -ge 2 ] || usage; threshold=$2; shift ;;
	--relative-to) [ $# -ge 2 ] || usage; ref=$2; shift ;;
	*) usage ;;
	esac
	shift
done
awk -v t="$threshold" 'BEGIN { exit !(t + 0 > 1) }' || { echo "compare.sh: --threshold $threshold: want a number above 1" >&2; exit 2; }
[ -f "$baseline" ] || { echo "compare.sh: $baseline: no such file" >&2; exit 2; }

work=$(mktemp -d /tmp/runsc-lite-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
if [ -n "$from" ]; then
	[ -r "$from" ] || { echo "compare.sh: $from: cannot read" >&2; exit 2; }
	cp "$from" "$work/now.tsv"
else
	echo "compare.sh: running bench/bench.sh (progress below)" >&2
	BENCH_TSV="$work/now.tsv" bench/bench.sh >"$work/bench.md" || status=1
	[ -f "$work/now.tsv" ] || { echo "compare.sh: bench.sh wrote no results" >&2; exit 1; }
fi

begin='<!-- bench-baseline -->' end='<!-- /bench-baseline -->'

if [ "$record" = 1 ]; then
	if awk -F '\t' '!/^#/ && $1 != "key" && NF >= 2 && $3 == "" { bad = 1 } END { exit !bad }' "$work/now.tsv"; then
		echo "compare.sh: not recording: some runs failed (their figures are empty)" >&2
		exit 1
	fi
	{
		echo "$begin"
		echo
		sed -n 's/^# //p' "$work/now.tsv" | sed 's/$/  /'
		echo
		bench_table "$work/now.tsv"
		echo
		echo "The reference figures bench/compare.sh reads (written by \`bench/compare.sh --record\`):"
		echo
		echo '```tsv'
		cat "$work/now.tsv"
		echo '```'
		echo
		echo "$end"
	} >"$work/section"
	if grep -qxF "$begin" "$baseline"; then
		awk -v b="$begin" -v e="$end" -v f="$work/section" '
			$0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
			$0 == e { skip = 0; next }
			!skip' "$baseline" >"$work/new"
	else
		{ cat "$baseline"; echo; echo "## Reference figures for bench/compare.sh (issue 16 item 8)"; echo; cat "$work/section"; } >"$work/new"
	fi
	cat "$work/new" >"$baseline"
	echo "compare.sh: recorded these figures in $baseline:" >&2
	bench_table "$work/now.tsv"
	exit "$status"
fi

# The reference: the tsv block inside the marked section.
awk -v b="$begin" -v e="$end" '
	$0 == b { in_s = 1; next }
	$0 == e { in_s = 0 }
	in_s && /^```tsv/ { in_b = 1; next }
	in_s && in_b && /^```/ { in_b = 0 }
	in_s && in_b' "$baseline" >"$work/base.tsv"
if ! grep -q . "$work/base.tsv"; then
	echo "compare.sh: $baseline has no recorded figures (a \`\`\`tsv block between $begin and $end); record them with bench/compare.sh --record" >&2
	exit 1
fi

for f in base now; do
	awk -F '\t' -v ref="$ref" '$2 == ref && $3 != "" { found = 1 } END { exit !found }' "$work/$f.tsv" || {
		echo "compare.sh: no $ref figures in the $([ $f = base ] && echo "recorded figures of $baseline" || echo "run compared") (--relative-to $ref)" >&2
		exit 1
	}
done

echo "Now:"
echo
bench_table "$work/now.tsv"
echo
echo "Recorded ($(sed -n 's/^# date: //p' "$work/base.tsv"); load $(sed -n 's/^# load: //p' "$work/base.tsv")) against now, runsc-lite's ratios to $ref (a change above ${threshold}x is a regression):"
echo
awk -F '\t' -v t="$threshold" -v ref="$ref" '
	FILENAME != prev { prev = FILENAME; file++ }
	/^#/ || $1 == "key" || NF < 2 { next }
	{
		if (file == 1) { b[$1, $2] = $3; if ($2 ~ /^runsc-lite-/ && !(($1, $2) in pair)) { pair[$1, $2] = 1; order[++n] = $1 SUBSEP $2 } }
		else { c[$1, $2] = $3; if ($2 ~ /^runsc-lite-/ && !(($1, $2) in pair)) { pair[$1, $2] = 1; order[++n] = $1 SUBSEP $2 } }
		seen[$1, $2, file] = 1
	}
	function r(a, x) { return (a != "" && x != "" && a > 0) ? x / a : "" }
	END {
		print "| benchmark | environment | recorded | now | change | verdict |"
		print "|---|---|---:|---:|---:|---|"
		bad = 0
		for (i = 1; i <= n; i++) {
			split(order[i], kv, SUBSEP); k = kv[1]; e = kv[2]
			rb = r(b[k, ref], b[k, e]); rc = r(c[k, ref], c[k, e])
			inb = ((k, e, 1) in seen); inc = ((k, e, 2) in seen)
			if (!inb) { v = "new (not recorded)"; ch = "" }
			else if (rb == "") { v = "no reference figure"; ch = "" }
			else if (!inc) { v = "MISSING now"; ch = ""; bad = 1 }
			else if (rc == "") { v = "FAILED now"; ch = ""; bad = 1 }
			else {
				ch = sprintf("%.2fx", rc / rb)
				if (rc / rb > t) { v = "REGRESSED"; bad = 1 }
				else if (rc / rb < 1 / t) v = "improved"
				else v = "ok"
			}
			printf "| %s | %s | %s | %s | %s | %s |\n", k, e, rb == "" ? "-" : sprintf("%.2fx", rb), rc == "" ? "-" : sprintf("%.2fx", rc), ch == "" ? "-" : ch, v
		}
		exit bad
	}' "$work/base.tsv" "$work/now.tsv" || status=1
echo
if [ "$status" != 0 ]; then
	echo "compare.sh: REGRESSION (or failed runs): see the table above" >&2
else
	echo "compare.sh: no ratio grew by more than ${threshold}x" >&2
fi
exit "$status"
