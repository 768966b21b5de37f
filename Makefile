# runsc-lite build, test and benchmark entry points.
#
#   make build         compile every package and bin/runsc-lite
#   make test          the whole suite: vet, race tests of the kernel packages,
#                      every package's tests, test/ (the native-vs-sandbox
#                      conformance tests) on ptrace and again on systrap
#                      (conformance-systrap), a gofmt check, 70 s of fuzzing
#                      (socket arguments, the ELF loader, the signal ABI,
#                      OCI configs), bench-selftest, test-runtime-tools, test-kvm,
#                      test-gonet and test-gostd
#                      (about 30 minutes on 2 cores; CI runs exactly this)
#   make bench         bench/bench.sh: native, runsc-lite on each platform and
#                      gVisor's runsc (systrap, ptrace) side by side, markdown table
#   make bench-compare bench/compare.sh: the same, each ratio checked against
#                      the figures recorded in BENCHMARKS.md (exit 1 when one
#                      grew by more than 25%); by hand, not in CI
#   make bench-workloads  bench/workloads.sh: real programs (Go and CPython test
#                      suites, a make -j2 build, coreutils loops) side by side
#   make test-runtime-tools  the OCI runtime-tools validation suite (from the
#                      Go module proxy) with runc and with runsc-lite, compared
#   make test-kvm      the KVM platform inside a QEMU guest with a standard KVM
#   make test-gonet    Go's net package tests natively and in the sandbox (>= 95%)
#   make bench-net     bench/net.sh: network benchmarks, native vs sandbox vs gVisor
#   make test-gostd    the Go standard library's tests natively and in the
#                      sandbox, passing sets compared (test/gostd-known.txt)
#   make syscalls-doc  docs/syscalls.md from `runsc-lite syscalls --markdown`

GO           ?= go
TEST_TIMEOUT ?= 30m
# Packages whose tests also run under the race detector: the kernel core,
# the kernel threads built on it, the socket layer's lock-heavy code, the
# network stack's softirq path, the terminals (whose host link runs
# goroutines beside the tasks), inotify's registry (events sent, watches
# added and read at once), and System V IPC (semaphores and queues blocking
# across CPUs, segments swapped while copied), and the VFS (mounts made and
# undone while paths resolve, overlays changed from several goroutines).
RACE_PKGS    ?= ./kernel/... ./workqueue/... ./softirqd/... ./kswapd/... ./sentry/socket/... ./sentry/net/... ./sentry/tty/... ./sentry/fs/inotify/... ./sentry/ipc/... ./timekeeper/... ./sentry/seccomp/... ./sentry/vfs
TEST_FLAGS   ?=
# runsc-lite is built without cgo: its confinement sets capabilities on
# every thread of the sentry (syscall.AllThreadsSyscall), which a binary
# with cgo cannot do, and gVisor's netstack brings in package net, whose
# resolver would link cgo in. The race detector needs cgo: race sets it.
export CGO_ENABLED = 0

.PHONY: all build test test-runtime-tools test-kvm test-gonet test-gostd vet race unit conformance conformance-systrap fmt-check fuzz bench bench-compare bench-selftest bench-workloads bench-net syscalls-doc clean

all: build

build:
	$(GO) build ./...
	$(GO) build -o bin/runsc-lite ./runsc-lite

test: vet race unit conformance conformance-systrap fmt-check fuzz bench-selftest test-runtime-tools test-kvm test-gonet test-gostd

vet:
	$(GO) vet ./...

# -p 1: these packages hold timing-sensitive scheduler and softirq tests
# (wake-up latency, CPU shares); run side by side they load both cores and
# measure each other.
race:
	CGO_ENABLED=1 $(GO) test -race -p 1 -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(RACE_PKGS)

# Every other package's tests (the race target already ran the kernel
# packages), then the conformance tests on their own:
# they run many sandboxes, which would load the machine under the kernel's
# timing-sensitive tests if both ran at once. -count=1 because test/ builds
# runsc-lite itself, which go test's cache cannot see.
unit:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $$($(GO) list ./... | grep -v -e '/runsc-lite/test$$' -e '/runsc-lite/kernel$$' -e '/runsc-lite/workqueue$$' -e '/runsc-lite/softirqd$$' -e '/runsc-lite/kswapd$$' -e '/runsc-lite/sentry/net$$' -e '/runsc-lite/sentry/tty$$')

# test/ runs on ptrace here and on systrap in conformance-systrap, named
# explicitly: --platform=auto (the default) may choose either on a host.
conformance:
	RUNSC_LITE_TEST_PLATFORM=ptrace $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) -skip '^TestRuntimeToolsValidation$$' ./test/

# The OCI runtime-tools validation suite, built from the Go module proxy
# and run with runc and runsc-lite (test/oci_validation_test.go): 3-8
# minutes on 2 shared cores, most of it the programs' one-second polls
# and the build of 58 programs, so a target of its own.
test-runtime-tools:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) -run '^TestRuntimeToolsValidation$$' ./test/

# The conformance tests again on the systrap platform (--platform=systrap):
# every test in test/ runs on both platforms (issue 16 item 2), but for
# the runtime-tools suite and the container engines' tests
# (test/oci_clients_test.go): podman, containerd and dockerd start
# runsc-lite from their own configuration, with --platform=auto, so a
# second run would repeat the first.
conformance-systrap:
	RUNSC_LITE_TEST_PLATFORM=systrap $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) -skip '^(TestRuntimeToolsValidation|TestPodman|TestPodmanNetwork|TestContainerdCtr|TestCRIPod|TestDocker)$$' ./test/

# Bounded runs of the fuzzers of what the sentry decodes from programs:
# the socket syscalls' arguments (sockaddrs, msghdr, iovecs, cmsg chains;
# INET sockaddrs),
# ELF and #! loading, the signal ABI (rt_sigaction, rt_sigprocmask,
# sigaltstack, rt_sigreturn's frame and FP area), what the OCI runtime
# decodes from a bundle's config.json, and programs' seccomp filters (the
# checks, and the allow cache against the interpreter). Their checked-in corpora
# (testdata/fuzz under each package) already run as normal tests in unit.
# Minimising a new input is capped at 100 runs: uncapped, the loader's
# (inputs of kilobytes) took whole runs of 15 s (2,400 executions instead
# of 130,000).
# The runs are bounded by a count of executions, not a duration: a
# duration's deadline can end a run with a spurious "context deadline
# exceeded" failure (it failed a suite so); the counts are 10-15 s each
# on an idle machine.
FUZZ_FLAGS ?= -run '^$$' -fuzzminimizetime 100x
fuzz:
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzSocketArgs$$' -fuzztime 400000x ./sentry/socket/
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzLoad$$' -fuzztime 150000x ./sentry/loader/
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzSignalABI$$' -fuzztime 200000x ./sentry/process/
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzSockaddr$$' -fuzztime 80000x ./sentry/socket/inet/
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzSpec$$' -fuzztime 100000x ./runsc-lite/oci/
	$(GO) test $(FUZZ_FLAGS) -fuzz '^FuzzSeccompFilter$$' -fuzztime 400000x ./sentry/seccomp/

fmt-check:
	@out="$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi; echo "gofmt: clean"

# Go's net package test binary natively and in the sandbox: at least 95% of
# the tests that pass natively must pass inside (test/gonet_test.go).
test-gonet:
	RUNSC_LITE_TEST_GONET=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run TestGoNetPackage -v ./test/

# The Go standard library's tests (os, syscall, os/exec, time, runtime, ...)
# natively and in the sandbox: every test that passes natively must pass
# inside or be listed, with its reason, in test/gostd-known.txt
# (test/gostd_test.go). Prints "sandbox N / native M" per package. Separate
# from test because it takes ten to twenty minutes; .ci/run runs both.
GOSTD_TIMEOUT ?= 45m
test-gostd:
	RUNSC_LITE_GOSTD=1 $(GO) test -count=1 -timeout $(GOSTD_TIMEOUT) -run '^TestGoStdlib$$' -v ./test/

# The KVM platform on a standard KVM: boots Debian's kernel with kvm-amd in a
# QEMU (TCG) guest and runs the platform tests and the sandbox's programs on
# both platforms there (test/kvm/README.md). Installs QEMU if missing.
test-kvm:
	test/kvm/test-kvm.sh

bench:
	bench/bench.sh

bench-compare:
	bench/compare.sh

# compare.sh's regression logic on made-up figures: no timing, part of test.
bench-selftest:
	bench/compare_test.sh

bench-workloads:
	bench/workloads.sh

bench-net:
	bench/net.sh

syscalls-doc:
	mkdir -p docs
	$(GO) run ./runsc-lite syscalls --markdown > docs/syscalls.md.tmp
	mv docs/syscalls.md.tmp docs/syscalls.md

clean:
	rm -rf bin
