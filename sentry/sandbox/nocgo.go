//go:build !cgo

package sandbox

// builtWithCgo: see cgo.go.
const builtWithCgo = false
