module github.com/runsc-lite/runsc-lite

go 1.26.3

require (
	golang.org/x/sys v0.49.0
	gvisor.dev/gvisor v0.0.0-20260905035102-160fafc42237
)
