# lib.sh: what the bench scripts share; they source it from the
# repository's root (bench/lib.sh).

# runsc_lite_bin DIR prints the runsc-lite binary to measure:
# $RUNSC_LITE_BIN, or one built into DIR without cgo, as make builds it (a
# binary with cgo cannot confine its sentry).
runsc_lite_bin() {
	if [ -n "${RUNSC_LITE_BIN:-}" ]; then
		echo "$RUNSC_LITE_BIN"
		return
	fi
	echo "building runsc-lite" >&2
	CGO_ENABLED=0 go build -o "$1/runsc-lite" ./runsc-lite || return
	echo "$1/runsc-lite"
}
