#!/usr/bin/env bash
# gvisor.sh: builds gVisor's runsc, statically, from the Go module proxy
# into a cache directory (never into the repository), and prints its path.
#
#   bench/gvisor.sh            build if missing, print the binary's path
#
# The version is the gvisor.dev/gvisor version runsc-lite's go.mod pins,
# so both stacks are the same netstack. The binary goes to
# ${XDG_CACHE_HOME:-~/.cache}/runsc-lite/gvisor-VERSION/runsc. Progress
# goes to stderr; a failure exits 1 with "gvisor.sh: FAILED: ..." naming
# the step that failed (the module proxy unreachable, a build error).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() {
	echo "gvisor.sh: FAILED: $*" >&2
	exit 1
}
version=$(go list -m -f '{{.Version}}' gvisor.dev/gvisor) || fail "go list -m gvisor.dev/gvisor in $(pwd)"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/runsc-lite/gvisor-$version"
if [ ! -x "$dir/runsc" ]; then
	echo "gvisor.sh: building runsc $version into $dir (a few minutes)" >&2
	mkdir -p "$dir"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# A module of its own, so runsc's dependencies are resolved for it
	# alone and nothing touches runsc-lite's go.mod.
	(
		cd "$tmp"
		go mod init runsc-build >/dev/null 2>&1
		go get "gvisor.dev/gvisor/runsc@$version" >&2 ||
			fail "go get gvisor.dev/gvisor/runsc@$version (GOPROXY=$(go env GOPROXY)); the proxy's answer is above"
		CGO_ENABLED=0 go build -trimpath -o "$dir/runsc.new" gvisor.dev/gvisor/runsc >&2 ||
			fail "go build gvisor.dev/gvisor/runsc@$version; the compiler's errors are above"
	) || exit 1
	mv "$dir/runsc.new" "$dir/runsc"
fi
"$dir/runsc" --version >/dev/null 2>&1 || fail "$dir/runsc --version does not run (delete it to rebuild)"
echo "$dir/runsc"
