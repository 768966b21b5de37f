#!/usr/bin/env bash
# limits.sh: the bounded-resources benchmarks of issue 12, runsc-lite against
# native in the same run. Prints a markdown report for BENCHMARKS.md on
# stdout (progress on stderr).
#
#   teardown   test/c/exitcost MIB: a child touches MIB MiB of anonymous
#              memory and exits; the time from its last word to the parent's
#              waitpid is the address space's teardown. 400 MiB and 4 GiB
#              (the sandbox with --total-memory 5G), median of ROUNDS.
#   open files test/c/fdhog: 10,000 and then 100,000 opens of one host file
#              (/etc/passwd) and one tmpfs file (/dev/shm/f) in the sandbox;
#              the ratio of the two times (O(log n) descriptor allocation
#              makes it about 10). Natively only as far as the host's
#              RLIMIT_NOFILE allows.
#
# Environment knobs: RUNSC_LITE_BIN=PATH (default: build it), ROUNDS
# (default 3), BIG_MIB (default 4096), FILES=0 to skip the open-files part
# (for an old build, where 100,000 opens take many minutes).
set -euo pipefail

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/runsc-lite-limitsbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
log() { echo "limits.sh: $*" >&2; }

rounds=${ROUNDS:-3}
big=${BIG_MIB:-4096}
. bench/lib.sh
rl=$(runsc_lite_bin "$work")
for p in exitcost fdhog; do
	gcc -static -O2 -Wall -Werror -o "$work/$p" "test/c/$p.c"
done
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "" }'; }
exitof() { sed -n 's/.*exit: \([0-9.]*\) s.*/\1/p'; }
touchof() { sed -n 's/touch [0-9]* MiB: \([0-9.]*\) s.*/\1/p'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1f", b / a; else print "n/a" }'; }

echo "| address space torn down at exit (\`bench/limits.sh\`, median of $rounds) | native | sandbox | ratio |"
echo "|---|---:|---:|---:|"
for mib in 400 "$big"; do
	nat=() sb=() nt=() st=()
	for i in $(seq "$rounds"); do
		log "exitcost $mib, round $i"
		o=$("$work/exitcost" "$mib")
		nat+=("$(echo "$o" | exitof)") nt+=("$(echo "$o" | touchof)")
		o=$("$rl" do --total-memory $(((mib + 1024) >> 10))G -- "$work/exitcost" "$mib")
		sb+=("$(echo "$o" | exitof)") st+=("$(echo "$o" | touchof)")
	done
	n=$(printf '%s\n' "${nat[@]}" | median) s=$(printf '%s\n' "${sb[@]}" | median)
	tn=$(printf '%s\n' "${nt[@]}" | median) ts=$(printf '%s\n' "${st[@]}" | median)
	echo "| exit of a process with $mib MiB touched | ${n} s | ${s} s | $(ratio "$n" "$s")x |"
	echo "| (touching the $mib MiB first) | ${tn} s | ${ts} s | $(ratio "$tn" "$ts")x |"
done
echo

[ "${FILES:-1}" = 0 ] && exit 0
log "fdhog in the sandbox"
o=$("$rl" do -- /bin/sh -c "echo x > /dev/shm/f && exec $work/fdhog 100000 /dev/shm/f /etc/passwd" </dev/null)
echo "| opens in the sandbox (\`bench/limits.sh\`) | 10,000 opens | 100,000 opens | ratio |"
echo "|---|---:|---:|---:|"
echo "$o" | sed -n 's/^\(.*\): 10000 opens \([0-9.]*\) s, 100000 opens \([0-9.]*\) s, ratio \([0-9.]*\)$/| \1 | \2 s | \3 s | \4 |/p'
