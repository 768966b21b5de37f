package sandbox

// --platform=auto's verdict, remembered: a sentry asked for "auto" runs
// KVM's self-test before it chooses (milliseconds of every start, and up
// to seconds where the host's KVM hangs). Where the self-test failed, the
// launcher remembers it, for this boot of the host, this /dev/kvm and this
// runsc-lite binary, and starts later sentries with ptrace at once. Only
// a failure is remembered: where KVM works, every sentry runs the test,
// which then costs what a KVM platform costs to start anyway.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// platformMemoryDir holds the remembered verdict (root only: /run is a
// tmpfs that a reboot empties).
var platformMemoryDir = "/run/runsc-lite"

const platformMemoryFile = "kvm-unusable"

// platformKey names what the verdict holds for: the host's boot, its
// /dev/kvm and the binary that tested it. "" when any of them cannot be
// read (nothing is remembered then).
func platformKey() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	kvm := "absent"
	var st unix.Stat_t
	if err := unix.Stat("/dev/kvm", &st); err == nil {
		kvm = fmt.Sprintf("%d:%d:%d:%o:%d", st.Rdev, st.Dev, st.Ino, st.Mode, st.Ctim.Nano())
	}
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return ""
	}
	return fmt.Sprintf("boot %s kvm %s exe %d:%d:%d:%d", strings.TrimSpace(string(boot)), kvm, exe.Dev, exe.Ino, exe.Size, exe.Mtim.Nano())
}

type platformMemory struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// kvmKnownUnusable reports whether KVM's self-test failed before for
// platformKey, and why.
func kvmKnownUnusable() (string, bool) {
	key := platformKey()
	if key == "" || os.Geteuid() != 0 {
		return "", false
	}
	data, err := os.ReadFile(filepath.Join(platformMemoryDir, platformMemoryFile))
	if err != nil {
		return "", false
	}
	var m platformMemory
	if json.Unmarshal(data, &m) != nil || m.Key != key {
		return "", false
	}
	return m.Reason, true
}

// rememberKVMUnusable records that a sentry asked for "auto" chose ptrace
// (reason: what it logged). Errors are ignored: the next sentry tests
// again.
func rememberKVMUnusable(reason string) {
	key := platformKey()
	if key == "" || os.Geteuid() != 0 {
		return
	}
	data, err := json.Marshal(platformMemory{Key: key, Reason: reason})
	if err != nil {
		return
	}
	if err := os.MkdirAll(platformMemoryDir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(platformMemoryDir, platformMemoryFile+".*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), filepath.Join(platformMemoryDir, platformMemoryFile)) != nil {
		os.Remove(tmp.Name())
	}
}
