# runsc-lite build, test and benchmark entry points.
#
#   make build         compile every package and bin/runsc-lite
#   make test          the whole suite: vet, race tests of the kernel packages,
#                      every package's tests, test/ (the native-vs-sandbox
#                      conformance tests), a gofmt check, a 20 s fuzz run
#                      of the socket argument decoding, and test-kvm
#   make bench         bench/bench.sh: native vs sandbox, markdown table
#   make test-kvm      the KVM platform inside a QEMU guest with a standard KVM
#   make syscalls-doc  docs/syscalls.md from `runsc-lite syscalls --markdown`

GO           ?= go
TEST_TIMEOUT ?= 30m
# Packages whose tests also run under the race detector: the kernel core and
# the kernel threads built on it, the terminals (whose host link runs
# goroutines beside the tasks), and the socket layer's lock-heavy code.
RACE_PKGS    ?= ./kernel/... ./workqueue/... ./softirqd/... ./kswapd/... ./sentry/tty/... ./sentry/socket/...
TEST_FLAGS   ?=

.PHONY: all build test test-kvm vet race unit conformance fmt-check fuzz bench syscalls-doc clean

all: build

build:
	$(GO) build ./...
	$(GO) build -o bin/runsc-lite ./runsc-lite

test: vet race unit conformance fmt-check fuzz test-kvm

vet:
	$(GO) vet ./...

# -p 1: these packages hold timing-sensitive scheduler and softirq tests
# (wake-up latency, CPU shares); run side by side they load both cores and
# measure each other.
race:
	$(GO) test -race -p 1 -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(RACE_PKGS)

# Every other package's tests (the race target already ran the kernel
# packages), then the conformance tests on their own:
# they run many sandboxes, which would load the machine under the kernel's
# timing-sensitive tests if both ran at once. -count=1 because test/ builds
# runsc-lite itself, which go test's cache cannot see.
unit:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $$($(GO) list ./... | grep -v -e '/runsc-lite/test$$' -e '/runsc-lite/kernel$$' -e '/runsc-lite/workqueue$$' -e '/runsc-lite/softirqd$$' -e '/runsc-lite/kswapd$$' -e '/runsc-lite/sentry/tty$$')

conformance:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./test/

# A bounded run of the fuzzer of the socket syscalls' argument decoding
# (sockaddrs, msghdr, iovecs, cmsg chains); its checked-in corpus
# (sentry/socket/testdata/fuzz) already runs as a normal test in unit.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzSocketArgs -fuzztime 20s ./sentry/socket/

fmt-check:
	@out="$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi; echo "gofmt: clean"

# The KVM platform on a standard KVM: boots Debian's kernel with kvm-amd in a
# QEMU (TCG) guest and runs the platform tests and the sandbox's programs on
# both platforms there (test/kvm/README.md). Installs QEMU if missing.
test-kvm:
	test/kvm/test-kvm.sh

bench:
	bench/bench.sh

syscalls-doc:
	mkdir -p docs
	$(GO) run ./runsc-lite syscalls --markdown > docs/syscalls.md.tmp
	mv docs/syscalls.md.tmp docs/syscalls.md

clean:
	rm -rf bin
