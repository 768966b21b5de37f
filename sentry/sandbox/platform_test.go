package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlatformMemory: a remembered --platform=auto choice holds for the
// same boot, /dev/kvm and binary only; a missing, unreadable, corrupt or
// stale file, or one naming a platform that is not remembered, is no
// choice (the sentry chooses again), never a failure; nothing is
// remembered where the key cannot be made or for a preferred platform.
func TestPlatformMemory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the choice is remembered for root only")
	}
	old := platformMemoryDir
	platformMemoryDir = filepath.Join(t.TempDir(), "runsc-lite")
	t.Cleanup(func() { platformMemoryDir = old })
	oldBoot := bootIDFile
	t.Cleanup(func() { bootIDFile = oldBoot })
	p := filepath.Join(platformMemoryDir, platformMemoryFile)

	if _, _, ok := knownAutoChoice(); ok {
		t.Fatal("a choice before any was remembered")
	}
	rememberAutoChoice("ptrace", "ptrace: the only candidate available (kvm: no)")
	if name, reason, ok := knownAutoChoice(); !ok || name != "ptrace" || reason != "ptrace: the only candidate available (kvm: no)" {
		t.Fatalf("after remembering: %q %q %v", name, reason, ok)
	}
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}

	// Another boot: the same file under a new boot ID is stale.
	fakeBoot := filepath.Join(t.TempDir(), "boot_id")
	if err := os.WriteFile(fakeBoot, []byte("00000000-0000-0000-0000-000000000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bootIDFile = fakeBoot
	if _, _, ok := knownAutoChoice(); ok {
		t.Fatal("a choice of another boot was taken")
	}
	// No boot ID (unreadable, empty): no key, nothing taken or written.
	for _, b := range []string{filepath.Join(t.TempDir(), "missing"), filepath.Join(t.TempDir(), "empty")} {
		if strings.HasSuffix(b, "empty") {
			os.WriteFile(b, nil, 0o600)
		}
		bootIDFile = b
		if _, _, ok := knownAutoChoice(); ok {
			t.Fatalf("boot ID %s: a choice was taken without a key", b)
		}
		rememberAutoChoice("ptrace", "x")
		if data, _ := os.ReadFile(p); string(data) != string(good) {
			t.Fatalf("boot ID %s: the file was rewritten without a key: %s", b, data)
		}
	}
	bootIDFile = oldBoot

	for name, data := range map[string]string{
		"another key":       `{"key":"boot 0 kvm absent exe 0:0:0:0","platform":"ptrace","reason":"stale"}`,
		"not json":          "not json",
		"truncated":         string(good[:len(good)/2]),
		"empty":             "",
		"the old format":    `{"key":"` + platformKey() + `","reason":"the self-test failed"}`,
		"preferred (kvm)":   `{"key":"` + platformKey() + `","platform":"kvm","reason":"x"}`,
		"unknown platform":  `{"key":"` + platformKey() + `","platform":"vax","reason":"x"}`,
		"platform auto":     `{"key":"` + platformKey() + `","platform":"auto","reason":"x"}`,
		"binary junk":       "\x00\xff\xfe{",
		"an array":          `[1,2,3]`,
		"wrong field types": `{"key":1,"platform":["ptrace"]}`,
	} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, _, ok := knownAutoChoice(); ok {
			t.Errorf("%s: choice %q taken", name, got)
		}
	}
	// Unreadable: a directory where the file should be.
	os.Remove(p)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := knownAutoChoice(); ok {
		t.Error("a directory was taken as a choice")
	}
	rememberAutoChoice("ptrace", "x") // cannot replace a directory: ignored
	os.Remove(p)

	// A preferred platform is not remembered; a new choice replaces a
	// corrupt file.
	rememberAutoChoice("kvm", "kvm: preferred")
	if _, err := os.Stat(p); err == nil {
		t.Error("a choice of kvm was remembered")
	}
	os.WriteFile(p, []byte("garbage"), 0o600)
	rememberAutoChoice("ptrace", "again")
	if name, reason, ok := knownAutoChoice(); !ok || name != "ptrace" || reason != "again" {
		t.Errorf("after a new choice over a corrupt file: %q %q %v", name, reason, ok)
	}
	if ents, _ := os.ReadDir(platformMemoryDir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}
