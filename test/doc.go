// Package test holds runsc-lite's conformance and end-to-end tests: the same
// programs (real host binaries and the static C programs under c/) run
// natively and inside the sandbox, and their outputs and exit statuses are
// compared after a small, explicit, per-test normalisation (see README.md).
// Sandbox-only tests check what must differ from the host by design (the
// program is PID 1, the sandbox's own hostname and /proc, ENOSYS for what
// the sentry does not implement) and runsc-lite's own command line.
//
// The package has no code outside its tests: TestMain builds runsc-lite and
// the C programs once into a temporary directory.
//
// Environment variables the tests read:
//
//	RUNSC_LITE_TEST_NATIVE_ONLY=1  skip every sandbox run (checks the tests
//	                                themselves while the sandbox is being built)
//	RUNSC_LITE_BIN=PATH            use this runsc-lite binary instead of building one
//	RUNSC_LITE_TEST_PLATFORM=NAME  pass --platform NAME to every sandbox run
//	RUNSC_LITE_TEST_DEBUG=1        run the sandbox with --debug --debug-log and
//	                                print the log of every failing sandbox run
//
// Locking: none; tests that share state (the built binaries) only read it.
package test
