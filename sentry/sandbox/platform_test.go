package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPlatformMemory: a remembered KVM failure holds for the same boot,
// /dev/kvm and binary only, and nothing is remembered where the key cannot
// be made.
func TestPlatformMemory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the verdict is remembered for root only")
	}
	old := platformMemoryDir
	platformMemoryDir = filepath.Join(t.TempDir(), "runsc-lite")
	t.Cleanup(func() { platformMemoryDir = old })
	if _, ok := kvmKnownUnusable(); ok {
		t.Fatal("a verdict before any was remembered")
	}
	rememberKVMUnusable("the self-test failed")
	if reason, ok := kvmKnownUnusable(); !ok || reason != "the self-test failed" {
		t.Fatalf("after remembering: %q, %v", reason, ok)
	}
	// Another boot, another /dev/kvm or another binary: forgotten.
	p := filepath.Join(platformMemoryDir, platformMemoryFile)
	if err := os.WriteFile(p, []byte(`{"key":"boot 0 kvm absent exe 0:0:0:0","reason":"stale"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := kvmKnownUnusable(); ok {
		t.Fatal("a verdict of another key was taken")
	}
	if err := os.WriteFile(p, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := kvmKnownUnusable(); ok {
		t.Fatal("a malformed verdict was taken")
	}
}
