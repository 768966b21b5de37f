//go:build !race

package vfs

// raceEnabled: see race_on_test.go.
const raceEnabled = false
