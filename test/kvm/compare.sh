#!/bin/sh
# test/kvm/compare.sh: runs inside the QEMU guest (busybox sh). Runs one
# program in runsc-lite on the ptrace and on the kvm platform and compares
# standard output, standard error and exit status. Exits 0 when they match
# (and the status is the expected one), 1 otherwise, printing both sides.
#
# Usage: compare.sh [-r RUNSC] [-s STATUS] [-d DIR] [-i INPUT] [-e] -- PROG [ARGS...]
#   -r RUNSC   the runsc-lite binary (default /opt/bin/runsc-lite)
#   -s STATUS  the exit status both runs must have (default 0)
#   -d DIR     run in DIR, recreated empty before each run (for programs
#              that write; the same path both times, so outputs that
#              name it still compare)
#   -i INPUT   file to use as standard input (default /dev/null)
#   -e         ignore standard error (compare stdout and status only)
#   -f FLAGS   extra runsc-lite flags (e.g. "--cpus 2"), split on spaces
#
# Each run gets a fixed environment (PATH, HOME, LANG=C, TZ=UTC).
runsc=/opt/bin/runsc-lite
want=0
dir=
input=/dev/null
ignore_err=0
flags=
while [ $# -gt 0 ]; do
	case "$1" in
	-r) runsc=$2; shift 2 ;;
	-s) want=$2; shift 2 ;;
	-d) dir=$2; shift 2 ;;
	-i) input=$2; shift 2 ;;
	-e) ignore_err=1; shift ;;
	-f) flags=$2; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "compare.sh: no program" >&2; exit 2; }

out=$(mktemp -d /tmp/compare.XXXXXX)
status=0
for p in ptrace kvm; do
	if [ -n "$dir" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		cd "$dir" || exit 2
	else
		cd /tmp || exit 2
	fi
	# shellcheck disable=SC2086
	env -i PATH=/bin:/sbin:/opt/bin HOME=/tmp LANG=C LC_ALL=C TZ=UTC TERM=dumb \
		"$runsc" --platform=$p $flags do -- "$@" <"$input" >"$out/$p.out" 2>"$out/$p.err"
	echo $? >"$out/$p.status"
done
for p in ptrace kvm; do
	s=$(cat "$out/$p.status")
	if [ "$s" != "$want" ]; then
		echo "$p: exit status $s, want $want"
		status=1
	fi
done
if ! cmp -s "$out/ptrace.out" "$out/kvm.out"; then
	echo "standard output differs:"
	diff "$out/ptrace.out" "$out/kvm.out" | head -n 40
	status=1
fi
if [ $ignore_err -eq 0 ] && ! cmp -s "$out/ptrace.err" "$out/kvm.err"; then
	echo "standard error differs:"
	diff "$out/ptrace.err" "$out/kvm.err" | head -n 40
	status=1
fi
if [ $status -ne 0 ]; then
	for p in ptrace kvm; do
		echo "--- $p stdout (status $(cat "$out/$p.status")):"
		head -n 30 "$out/$p.out"
		echo "--- $p stderr:"
		head -n 30 "$out/$p.err"
	done
else
	echo "same output ($(wc -l <"$out/kvm.out") lines) and status $want on ptrace and kvm"
fi
rm -rf "$out"
exit $status
