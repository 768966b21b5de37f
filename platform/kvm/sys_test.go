package kvm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestStructLayouts checks the KVM structures against the sizes of
// linux/kvm.h (x86-64).
func TestStructLayouts(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"kvm_regs", unsafe.Sizeof(kvmRegs{}), 0x90},
		{"kvm_segment", unsafe.Sizeof(kvmSegment{}), 0x18},
		{"kvm_dtable", unsafe.Sizeof(kvmDtable{}), 0x10},
		{"kvm_sregs", unsafe.Sizeof(kvmSregs{}), 0x138},
		{"kvm_sregs.cr0", unsafe.Offsetof(kvmSregs{}.CR0), 0xe0},
		{"kvm_sregs.efer", unsafe.Offsetof(kvmSregs{}.EFER), 0x108},
		{"kvm_sregs.interrupt_bitmap", unsafe.Offsetof(kvmSregs{}.InterruptBitmap), 0x118},
		{"kvm_xsave", unsafe.Sizeof(kvmXSave{}), 0x1000},
		{"kvm_xcrs", unsafe.Sizeof(kvmXCRs{}), 0x188},
		{"kvm_vcpu_events", unsafe.Sizeof(kvmVCPUEvents{}), 0x40},
		{"kvm_vcpu_events.interrupt", unsafe.Offsetof(kvmVCPUEvents{}.InterruptInjected), 8},
		{"kvm_vcpu_events.nmi", unsafe.Offsetof(kvmVCPUEvents{}.NMIInjected), 12},
		{"kvm_cpuid_entry2", unsafe.Sizeof(kvmCPUIDEntry{}), 0x28},
		{"kvm_msr_entry", unsafe.Sizeof(kvmMSREntry{}), 0x10},
		{"kvm_msrs.entries", unsafe.Offsetof(kvmMSRs{}.Entries), 8},
		{"kvm_cpuid2.entries", unsafe.Offsetof(kvmCPUID{}.Entries), 8},
		{"kvm_userspace_memory_region", unsafe.Sizeof(kvmUserspaceMemoryRegion{}), 0x20},
		{"kvm_enable_cap", unsafe.Sizeof(kvmEnableCap{}), 104},
	} {
		if c.got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// The ioctl numbers encode the sizes of their arguments.
	for _, c := range []struct {
		name string
		req  uintptr
		size uintptr
	}{
		{"KVM_GET_REGS", ioctlGetRegs, unsafe.Sizeof(kvmRegs{})},
		{"KVM_SET_REGS", ioctlSetRegs, unsafe.Sizeof(kvmRegs{})},
		{"KVM_GET_SREGS", ioctlGetSregs, unsafe.Sizeof(kvmSregs{})},
		{"KVM_SET_SREGS", ioctlSetSregs, unsafe.Sizeof(kvmSregs{})},
		{"KVM_GET_XSAVE", ioctlGetXSave, unsafe.Sizeof(kvmXSave{})},
		{"KVM_SET_XSAVE", ioctlSetXSave, unsafe.Sizeof(kvmXSave{})},
		{"KVM_SET_XCRS", ioctlSetXCRs, unsafe.Sizeof(kvmXCRs{})},
		{"KVM_GET_VCPU_EVENTS", ioctlGetVCPUEvents, unsafe.Sizeof(kvmVCPUEvents{})},
		{"KVM_SET_USER_MEMORY_REGION", ioctlSetUserMemoryRegion, unsafe.Sizeof(kvmUserspaceMemoryRegion{})},
		{"KVM_ENABLE_CAP", ioctlEnableCap, unsafe.Sizeof(kvmEnableCap{})},
	} {
		if got := c.req >> 16 & 0x3fff; got != c.size {
			t.Errorf("%s encodes size %#x, want %#x", c.name, got, c.size)
		}
	}
}

// TestHostIoctlsComplete: every ioctl the platform issues is in
// HostIoctls, the list the confined sentry's seccomp filter allows. It
// reads the package's source: each ioctl* constant must be listed, and
// every call of ioctl and ioctlPtr must pass one of them as the request.
// Failed would be a new KVM ioctl that kills the confined sentry the
// first time it is used.
func TestHostIoctlsComplete(t *testing.T) {
	if _, err := os.Stat("sys.go"); os.IsNotExist(err) {
		// make test-kvm runs this binary in a guest without the sources;
		// make unit runs it on the host, where they are.
		t.Skip("the package's sources are not here (a copied test binary): make unit checks this on the host")
	}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]bool{}
	listed := map[string]bool{}
	type call struct {
		pos string
		req ast.Expr
	}
	var calls []call
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GenDecl:
					for _, spec := range n.Specs {
						vs, ok := spec.(*ast.ValueSpec)
						if !ok {
							continue
						}
						for i, name := range vs.Names {
							if n.Tok == token.CONST && strings.HasPrefix(name.Name, "ioctl") {
								consts[name.Name] = true
							}
							if name.Name == "HostIoctls" && i < len(vs.Values) {
								for _, el := range vs.Values[i].(*ast.CompositeLit).Elts {
									listed[el.(*ast.Ident).Name] = true
								}
							}
						}
					}
				case *ast.CallExpr:
					if id, ok := n.Fun.(*ast.Ident); ok && (id.Name == "ioctl" || id.Name == "ioctlPtr") && len(n.Args) >= 2 {
						calls = append(calls, call{fset.Position(n.Pos()).String(), n.Args[1]})
					}
				}
				return true
			})
		}
	}
	if len(consts) == 0 || len(calls) == 0 {
		t.Fatalf("found %d ioctl constants and %d ioctl calls: the test no longer understands the package", len(consts), len(calls))
	}
	for c := range consts {
		if !listed[c] {
			t.Errorf("ioctl constant %s is not in HostIoctls: the confined sentry's seccomp filter would kill it", c)
		}
	}
	for _, c := range calls {
		id, ok := c.req.(*ast.Ident)
		if ok && id.Name == "req" {
			continue // ioctlPtr forwarding its own parameter
		}
		if !ok || !listed[id.Name] {
			t.Errorf("%s: ioctl request %s is not one of HostIoctls", c.pos, types.ExprString(c.req))
		}
	}
}
