#!/usr/bin/env bash
# compare_test.sh: bench/compare.sh's regression logic on made-up figures
# (no timing: it runs in CI, `make bench-selftest`). Each case writes a
# reference and a "now", runs compare.sh --from, and checks its exit status
# and verdicts.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-compare-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0

# tsv GETPID_NATIVE GETPID_PTRACE FORK_NATIVE FORK_PTRACE [EXTRA-ROWS]: results in bench.sh's format.
tsv() {
	printf '# bench.sh results: fake\n# date: 2026-01-01T00:00Z\n# load: 0.10 0.10 0.10 at the start, 0.20 0.20 0.20 at the end\n'
	printf 'key\tenv\tns\n'
	printf 'getpid\tnative\t%s\ngetpid\trunsc-lite-ptrace\t%s\ngetpid\tgvisor-systrap\t6000\n' "$1" "$2"
	printf 'forkexit\tnative\t%s\nforkexit\trunsc-lite-ptrace\t%s\nforkexit\tgvisor-systrap\t1000000\n' "$3" "$4"
	[ -z "${5:-}" ] || printf '%b' "$5"
}

# A BENCHMARKS.md with text around the reference section.
printf '# Benchmarks\n\nSome text before.\n\n## Later section\n\nText after.\n' >"$work/BENCHMARKS.md"
tsv 100 10000 100000 1000000 >"$work/base.tsv"

# check NAME WANT-STATUS GREP-PATTERN compare.sh-ARGS...
check() {
	local name=$1 want=$2 pat=$3 got=0
	shift 3
	bench/compare.sh "$@" >"$work/out" 2>&1 || got=$?
	if [ "$got" != "$want" ] || ! grep -qE -- "$pat" "$work/out"; then
		echo "FAIL: $name: exit $got (want $want), output should match /$pat/:"
		sed 's/^/    /' "$work/out"
		fails=$((fails + 1))
	else
		echo "ok: $name"
	fi
}

check "no reference recorded yet" 1 "no recorded figures" --from "$work/base.tsv" --baseline "$work/BENCHMARKS.md"
check "record" 0 "recorded these figures" --record --from "$work/base.tsv" --baseline "$work/BENCHMARKS.md"
grep -q "Some text before." "$work/BENCHMARKS.md" && grep -q "Text after." "$work/BENCHMARKS.md" ||
	{ echo "FAIL: --record lost the rest of BENCHMARKS.md"; fails=$((fails + 1)); }
grep -q '| getpid round trip | 100 ns | 10.00 µs (100.00x) |' "$work/BENCHMARKS.md" ||
	{ echo "FAIL: --record did not write the table"; cat "$work/BENCHMARKS.md"; fails=$((fails + 1)); }
check "same figures" 0 "\| getpid \| runsc-lite-ptrace \| 100.00x \| 100.00x \| 1.00x \| ok \|" --from "$work/base.tsv" --baseline "$work/BENCHMARKS.md"

# Absolute times move with the machine; ratios are compared: twice as slow
# on both sides is no regression.
tsv 200 20000 200000 2000000 >"$work/now.tsv"
check "slower machine, same ratios" 0 "forkexit \| runsc-lite-ptrace \| 10.00x \| 10.00x \| 1.00x \| ok" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
tsv 100 12400 100000 1000000 >"$work/now.tsv"
check "24% worse is within the threshold" 0 "1.24x \| ok" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
tsv 100 12600 100000 1000000 >"$work/now.tsv"
check "26% worse is a regression" 1 "getpid \| runsc-lite-ptrace \| 100.00x \| 126.00x \| 1.26x \| REGRESSED" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
tsv 70 10000 100000 1000000 >"$work/now.tsv"
check "native faster, sandbox not: the ratio regressed" 1 "1.43x \| REGRESSED" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
tsv 100 5000 100000 1000000 >"$work/now.tsv"
check "improvement" 0 "0.50x \| improved" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
check "a tighter threshold" 1 "REGRESSED" --threshold 1.1 --from <(tsv 100 11500 100000 1000000) --baseline "$work/BENCHMARKS.md"
tsv 100 10000 100000 "" >"$work/now.tsv"
check "a failed run" 1 "FAILED now" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
tsv 100 10000 100000 1000000 | grep -v 'forkexit.runsc-lite-ptrace' >"$work/now.tsv"
check "a missing benchmark" 1 "MISSING now" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
tsv 100 10000 100000 1000000 'getpid\truncsc-lite-systrap\t4000\n' | sed 's/runcsc/runsc/' >"$work/now.tsv"
check "a new platform is shown, not failed" 0 "getpid \| runsc-lite-systrap \| - \| 40.00x \| - \| new" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
tsv 100 10000 100000 1000000 | sed 's/^getpid\tgvisor-systrap\t6000/getpid\tgvisor-systrap\t60000/' >"$work/now.tsv"
check "gVisor's ratios are not guarded" 0 "no ratio grew" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
check "record refuses failed runs" 1 "not recording" --record --from <(tsv 100 "" 100000 1000000) --baseline "$work/BENCHMARKS.md"
# A second record replaces the section instead of adding one.
check "re-record" 0 "recorded" --record --from <(tsv 100 20000 100000 1000000) --baseline "$work/BENCHMARKS.md"
n=$(grep -c '^<!-- bench-baseline -->$' "$work/BENCHMARKS.md")
[ "$n" = 1 ] || { echo "FAIL: $n reference sections after two records"; fails=$((fails + 1)); }
check "compared with the new reference" 0 "200.00x \| 200.00x \| 1.00x \| ok" --from <(tsv 100 20000 100000 1000000) --baseline "$work/BENCHMARKS.md"
# --relative-to: ratios to gVisor systrap (6000 ns getpid, 1 ms forkexit in tsv's rows).
tsv 400 20000 100000 2000000 | sed 's/^getpid\tgvisor-systrap\t6000/getpid\tgvisor-systrap\t12000/; s/^forkexit\tgvisor-systrap\t1000000/forkexit\tgvisor-systrap\t2000000/' >"$work/now.tsv"
check "relative to gVisor: both twice as slow, native not" 0 "getpid \| runsc-lite-ptrace \| 3.33x \| 1.67x \| 0.50x \| improved" --relative-to gvisor-systrap --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
check "the same against native is a regression" 1 "REGRESSED" --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
tsv 100 40000 100000 1000000 >"$work/now.tsv"
check "relative to gVisor: ours twice as slow" 1 "getpid \| runsc-lite-ptrace \| 3.33x \| 6.67x \| 2.00x \| REGRESSED" --relative-to gvisor-systrap --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
check "relative to an environment not measured" 1 "no gvisor-ptrace figures" --relative-to gvisor-ptrace --from "$work/now.tsv" --baseline "$work/BENCHMARKS.md"
check "usage" 2 "usage" --bogus
check "bad threshold" 2 "want a number above 1" --threshold 0.5 --from "$work/now.tsv"

if [ "$fails" != 0 ]; then
	echo "compare_test.sh: $fails case(s) FAILED"
	exit 1
fi
echo "compare_test.sh: all cases pass"
