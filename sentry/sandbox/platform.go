package sandbox

// --platform=auto's choice, remembered: a sentry asked for "auto" starts
// the candidate platforms and, where more than one is available, measures
// them (platform/auto): milliseconds of every start, up to seconds where
// the host's KVM hangs its self-test. The launcher remembers the choice
// the sentry reports with "started", with its reason and figures, for this
// boot of the host (its boot ID), this /dev/kvm and this runsc-lite
// binary, and starts later sentries with that platform at once. A
// preferred platform (KVM) is never remembered: where KVM works, every
// sentry runs its self-test, as an explicit --platform=kvm does.
//
// Whatever is wrong with the file — missing, unreadable, not JSON,
// another key, a platform this binary does not remember — the sentry
// chooses again, and the launcher writes the new choice.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"golang.org/x/sys/unix"
)

// platformMemoryDir holds the remembered choice (root only: /run is a
// tmpfs that a reboot empties).
var platformMemoryDir = "/run/runsc-lite"

const platformMemoryFile = "platform-auto"

// bootIDFile is the host's boot ID (a variable for the tests).
var bootIDFile = "/proc/sys/kernel/random/boot_id"

// platformKey names what the choice holds for: the host's boot, its
// /dev/kvm and the binary that chose. "" when any of them cannot be
// read (nothing is remembered then).
func platformKey() string {
	bootID, err := os.ReadFile(bootIDFile)
	if err != nil || len(strings.TrimSpace(string(bootID))) == 0 {
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
	return fmt.Sprintf("boot %s kvm %s exe %d:%d:%d:%d", strings.TrimSpace(string(bootID)), kvm, exe.Dev, exe.Ino, exe.Size, exe.Mtim.Nano())
}

type platformMemory struct {
	Key      string `json:"key"`
	Platform string `json:"platform"`
	Reason   string `json:"reason"`
}

// knownAutoChoice returns the platform a sentry asked for "auto" chose
// before for platformKey, and why.
func knownAutoChoice() (name, reason string, ok bool) {
	key := platformKey()
	if key == "" || os.Geteuid() != 0 {
		return "", "", false
	}
	data, err := os.ReadFile(filepath.Join(platformMemoryDir, platformMemoryFile))
	if err != nil {
		return "", "", false
	}
	var m platformMemory
	if json.Unmarshal(data, &m) != nil || m.Key != key || !boot.AutoRemembered(m.Platform) {
		return "", "", false
	}
	return m.Platform, m.Reason, true
}

// rememberAutoChoice records that a sentry asked for "auto" chose
// platform name (why: what it said). Nothing is recorded for a platform
// that is not to be remembered (boot.AutoRemembered). Errors are
// ignored: the next sentry chooses again.
func rememberAutoChoice(name, why string) {
	if !boot.AutoRemembered(name) {
		return
	}
	key := platformKey()
	if key == "" || os.Geteuid() != 0 {
		return
	}
	data, err := json.Marshal(platformMemory{Key: key, Platform: name, Reason: why})
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
