//go:build race

package vfs

// raceEnabled reports whether the tests run under the race detector, which
// makes every memory access many times dearer: single-goroutine tests that
// exist for their count of steps take fewer under it (the checks are the
// same), so that the package fits in make race.
const raceEnabled = true
