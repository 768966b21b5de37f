#!/usr/bin/env bash
# OCI runtime benchmarks: runsc-lite against runc and gVisor's runsc
# (Debian's packages), on the same busybox bundle, in the same run.
#
#   bench/oci.sh [ROUNDS]
#
# Prints a markdown table:
#   * create+start+delete of a container running `true` (`run`, which is
#     create, start, wait and delete), median wall time of ROUNDS (20);
#   * 100 such containers one after the other, total wall time;
#   * idle memory of a container running `sleep`: the PSS of every host
#     process that runs it (runsc-lite: the stand-in, the sentry and its stubs;
#     runc: the container's process; runsc: its sandbox and gofer);
#   * podman run --rm of `true` with each runtime, median wall time;
#   * runsc-lite and runc alternating, wall and CPU time, with `run` and
#     with create/start/wait/delete as separate commands
#     (bench/oci_paired.py).
# A runtime that is not installed is skipped with a note. Needs root,
# busybox-static, python3; podman for the last row.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
work=$(mktemp -d /tmp/oci-bench.XXXXXX)
cleanup() {
	for rt in "${!roots[@]}"; do
		for d in "${roots[$rt]}"/*/; do
			[ -d "$d" ] && ${runtimes[$rt]} --root "${roots[$rt]}" delete --force "$(basename "$d")" >/dev/null 2>&1 || true
		done
	done
	rm -rf "$work"
}
declare -A runtimes roots
trap cleanup EXIT

. bench/lib.sh
rl=$(runsc_lite_bin "$work")
runtimes[runsc-lite]="$rl"
command -v runc >/dev/null && runtimes[runc]=runc
# gVisor's runsc: its own network off, as runsc-lite's sandbox has none.
command -v runsc >/dev/null && runtimes[runsc]="runsc --network=none"
for rt in "${!runtimes[@]}"; do roots[$rt]="$work/state-$rt"; done

# The bundle: busybox alone, runc's example config without a terminal.
bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" "$bundle/rootfs/sys" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$bundle/rootfs/bin/$a"; done
(cd "$bundle" && "$rl" spec)
python3 - "$bundle/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(sys.argv[1], "w"))
EOF
sleepbundle="$work/sleepbundle"
cp -a "$bundle" "$sleepbundle"
sed -i 's|"/bin/true"|"/bin/sleep", "1000"|' "$sleepbundle/config.json"

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v n="$1" 'BEGIN {printf "%.1f ms", n/1e6}'; }

run_once() { # runtime id bundle
	${runtimes[$1]} --root "${roots[$1]}" run --bundle "$3" "$2" >/dev/null 2>&1 ||
		echo "$1 run $2 failed" >&2
}

declare -A one hundred pss podmanT
for rt in "${!runtimes[@]}"; do
	run_once "$rt" warm "$bundle"
	for i in $(seq "$rounds"); do
		s=$(now); run_once "$rt" "c$i" "$bundle"; e=$(now)
		echo $((e - s))
	done | median > "$work/one-$rt"
	one[$rt]=$(ms "$(cat "$work/one-$rt")")
	s=$(now)
	for i in $(seq 100); do run_once "$rt" "h$i" "$bundle"; done
	e=$(now)
	hundred[$rt]=$(awk -v n=$((e - s)) 'BEGIN {printf "%.2f s", n/1e9}')
done

# PSS of a process and all its descendants, in kB.
tree_pss() {
	local pids=("$@") all=() p
	while [ ${#pids[@]} -gt 0 ]; do
		p=${pids[0]}; pids=("${pids[@]:1}"); all+=("$p")
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do pids+=("$c"); done
	done
	for p in "${all[@]}"; do awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null; done | awk '{s+=$1} END {print s+0}'
}
for rt in "${!runtimes[@]}"; do
	r="${runtimes[$rt]} --root ${roots[$rt]}"
	$r run --detach --bundle "$sleepbundle" idle >/dev/null 2>&1 </dev/null
	sleep 2
	pid=$($r state idle | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
	pids=("$pid")
	if [ "$rt" = runsc-lite ]; then
		# The state's pid is the container's stand-in; the sentry (and
		# its stubs) is not its descendant.
		sp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("sentryPid", 0))' "${roots[$rt]}/idle/state.json")
		[ "$sp" -gt 0 ] && pids+=("$sp")
	fi
	if [ "$rt" = runsc ]; then
		# gVisor's gofer is not a descendant of its sandbox.
		for p in $(pgrep -f "runsc.*gofer.*$sleepbundle" || true); do pids+=("$p"); done
	fi
	pss[$rt]="$(awk -v k="$(tree_pss "${pids[@]}")" 'BEGIN {printf "%.1f MB", k/1024}')"
	$r delete --force idle >/dev/null 2>&1 || true
done

if command -v podman >/dev/null; then
	tar -C "$bundle/rootfs" -cf "$work/rootfs.tar" .
	p="podman --root $work/podman --runroot $work/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend file"
	$p import "$work/rootfs.tar" localhost/bench:latest >/dev/null 2>&1
	for rt in "${!runtimes[@]}"; do
		bin=${runtimes[$rt]%% *}
		bin=$(command -v "$bin")
		# Limits podman may set with any runtime: it copies its own
		# NOFILE and NPROC, which runc cannot raise to where the
		# machine lacks CAP_SYS_RESOURCE (this VM's bounding set).
		extra=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
		[ "$rt" = runsc ] && extra+=(--runtime-flag network=none)
		$p --runtime "$bin" run --rm --network none "${extra[@]}" localhost/bench:latest true >/dev/null 2>&1 || true
		for i in $(seq 10); do
			s=$(now)
			$p --runtime "$bin" run --rm --network none "${extra[@]}" localhost/bench:latest true >/dev/null 2>&1 ||
				echo "podman with $rt failed" >&2
			e=$(now)
			echo $((e - s))
		done | median > "$work/podman-$rt"
		podmanT[$rt]=$(ms "$(cat "$work/podman-$rt")")
	done
fi

row() { # name array
	local name=$1; shift
	local -n a=$1
	printf "| %s |" "$name"
	for rt in "${!runtimes[@]}"; do printf " %s |" "${a[$rt]:-n/a}"; done
	echo
}
echo
printf "| benchmark |"; for rt in "${!runtimes[@]}"; do printf " %s |" "$rt"; done; echo
printf "|---|"; for rt in "${!runtimes[@]}"; do printf -- "---:|"; done; echo
row "create+start+delete of \`true\` (run; median of $rounds)" one
row "100 sequential containers (total)" hundred
row "idle PSS of a \`sleep\` container" pss
row "podman run --rm of \`true\` (median of 10)" podmanT

# Paired against runc (alternating, same load), and as containerd's shim
# drives a runtime: create, start, wait, delete as separate commands.
if [ -n "${runtimes[runc]:-}" ]; then
	echo
	python3 bench/oci_paired.py "$bundle" "$rounds" "runsc-lite=${runtimes[runsc-lite]}" "runc=${runtimes[runc]}"
fi
