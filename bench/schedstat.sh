#!/bin/sh
# schedstat.sh: where a program's wall time goes between running and
# waiting for a CPU, from the schedstat counters (time on a CPU, time
# runnable but waiting, turns) that Linux and the sandbox kernel both keep
# in /proc/PID/task/TID/schedstat. ARCHITECTURE.md ("Where real workloads
# spend their time") quotes its output.
#
#   bench/schedstat.sh PROG ARGS...
#       runs PROG (natively, or inside a sandbox when this script is run
#       there: runsc-lite do -- /bin/sh bench/schedstat.sh PROG ...),
#       samples its threads every 0.2 s until it exits and prints the sums
#       of the last sample: threads, time on a CPU, time runnable waiting,
#       turns, the mean wait per turn (wake-up to running), and the
#       context switches of the whole (sandbox) machine meanwhile
#       (/proc/stat ctxt).
#   bench/schedstat.sh --host CMD ARGS...
#       runs CMD (e.g. runsc-lite do -- PROG) on the host and samples the
#       host's counters for the threads of every process under it: the
#       sentry (processes named runsc-lite) and the rest (the platform's
#       stub processes, which run the application's code). Short-lived
#       processes between two samples are missed.
#
# The samples are the last seen before a thread exits, so a thread that
# ran after the last sample is undercounted by at most 0.2 s (0.3 s with
# --host). PROG's output is discarded; its exit status is returned.
host=0
if [ "${1:-}" = --host ]; then
	host=1
	shift
fi
if [ $# -eq 0 ]; then
	echo "usage: bench/schedstat.sh [--host] PROG ARGS..." >&2
	exit 2
fi
tmp=$(mktemp -d /tmp/schedstat.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if [ "$host" = 0 ]; then
	c0=$(sed -n 's/^ctxt //p' /proc/stat)
	"$@" >/dev/null 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		cat /proc/"$pid"/task/*/schedstat >"$tmp/s" 2>/dev/null && [ -s "$tmp/s" ] && mv "$tmp/s" "$tmp/last"
		sleep 0.2
	done
	wait "$pid"
	rc=$?
	c1=$(sed -n 's/^ctxt //p' /proc/stat)
	[ -f "$tmp/last" ] || { echo "schedstat.sh: no sample taken (the program ended within 0.2 s)" >&2; exit "$rc"; }
	awk -v c=$((c1 - c0)) '{ r += $1; d += $2; n += $3; t++ }
		END { printf "threads %d: on a CPU %.2f s, runnable waiting %.2f s, %d turns, mean wait per turn %.1f us; context switches meanwhile %d\n",
			t, r / 1e9, d / 1e9, n, d / (n ? n : 1) / 1e3, c }' "$tmp/last"
	exit "$rc"
fi

# --host: every thread of every process under CMD, keyed by
# /proc/PID/task/TID, last sample wins.
"$@" >/dev/null 2>&1 &
top=$!
desc() { for p in $(pgrep -P "$1"); do echo "$p"; desc "$p"; done; }
while kill -0 "$top" 2>/dev/null; do
	for p in $(desc "$top"); do
		comm=$(cat /proc/"$p"/comm 2>/dev/null) || continue
		for f in /proc/"$p"/task/*/schedstat; do
			v=$(cat "$f" 2>/dev/null) && echo "$f $comm $v"
		done
	done >>"$tmp/all"
	sleep 0.3
done
wait "$top"
rc=$?
[ -f "$tmp/all" ] || { echo "schedstat.sh: no sample taken" >&2; exit "$rc"; }
awk '{ last[$1] = $0 }
	END {
		for (f in last) {
			split(last[f], a, " ")
			k = (a[2] == "runsc-lite") ? "sentry" : "stubs and other processes"
			r[k] += a[3]; d[k] += a[4]; n[k] += a[5]; t[k]++
		}
		for (k in r) printf "%s: %d threads, on a host CPU %.2f s, runnable but not running %.2f s, %d turns\n", k, t[k], r[k] / 1e9, d[k] / 1e9, n[k]
	}' "$tmp/all"
exit "$rc"
