//go:build cgo

package sandbox

// builtWithCgo: this binary has cgo (runtime/cgo: gVisor's netstack
// imports package net, whose resolver uses it when cgo is on). The
// confinement cannot work in it: syscall.AllThreadsSyscall, which sets
// capabilities and securebits on every thread, refuses to run beside
// threads C code may have made.
const builtWithCgo = true
