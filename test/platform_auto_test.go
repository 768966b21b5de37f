package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPlatformAuto: --platform=auto logs which platform it chose and why
// (with --debug), the launcher remembers the choice for the boot in
// /run/runsc-lite/platform-auto and later sandboxes start with it at
// once; a corrupt, stale or unreadable memory means choosing again, and
// never a failed start. (Root only: only root's choice is remembered.)
func TestPlatformAuto(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the choice is remembered for root only (/run/runsc-lite)")
	}
	const path = "/run/runsc-lite/platform-auto"
	if saved, err := os.ReadFile(path); err == nil {
		t.Cleanup(func() { os.WriteFile(path, saved, 0o600) })
	}
	chosenRE := regexp.MustCompile(`platform auto: ([a-z]+): (.*)`)
	kernelRE := regexp.MustCompile(`kernel up: .* platform ([a-z]+)`)
	var reason string // the last choice's reason, from the log
	start := func(what string) (chose, remembered bool, platform string) {
		t.Helper()
		r := runRunsc(t, []string{"--debug", "--platform=auto", "do", "--", "/bin/echo", "ok"}, runOpts{})
		if r.Status != 0 || r.Stdout != "ok\n" {
			t.Fatalf("%s: status %d, stdout %q\n%s", what, r.Status, r.Stdout, tail(r.Stderr, 30))
		}
		m := kernelRE.FindStringSubmatch(r.Stderr)
		if m == nil {
			t.Fatalf("%s: no platform in the debug log:\n%s", what, tail(r.Stderr, 30))
		}
		platform = m[1]
		remembered = strings.Contains(r.Stderr, "as chosen before on this boot")
		if c := chosenRE.FindStringSubmatch(r.Stderr); c != nil && !remembered {
			chose = true
			if c[1] != platform {
				t.Errorf("%s: auto chose %s but the kernel runs on %s", what, c[1], platform)
			}
			t.Logf("%s: chose %s: %s", what, c[1], c[2])
			reason = c[2]
		}
		if !chose && !remembered {
			t.Errorf("%s: the log says neither why the platform was chosen nor that it was remembered:\n%s", what, tail(r.Stderr, 30))
		}
		return chose, remembered, platform
	}
	memory := func() map[string]string {
		var m map[string]string
		data, _ := os.ReadFile(path)
		json.Unmarshal(data, &m)
		return m
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(path)
	if err := os.WriteFile(path, []byte("garbage{"), 0o600); err != nil {
		t.Fatal(err)
	}
	chose, _, platform := start("corrupt memory")
	if !chose {
		t.Fatalf("with a corrupt memory the sentry did not choose")
	}
	if platform == "kvm" {
		// KVM is preferred and never remembered: nothing more to see.
		t.Logf("this host runs KVM: its choice is not remembered")
		return
	}
	// Without KVM both trapping platforms are candidates: each is
	// measured (or says why it could not start) and the faster is run.
	for _, name := range []string{"ptrace", "systrap"} {
		re := regexp.MustCompile(`\b` + name + `( [0-9.]+[µnm]?s per round trip|: )`)
		if !re.MatchString(reason) {
			t.Errorf("the choice's reason has no figure for %s: %s", name, reason)
		}
	}
	if !strings.Contains(reason, "fastest") && !strings.Contains(reason, "only candidate") {
		t.Errorf("the reason does not say the choice was by measurement: %s", reason)
	}
	m := memory()
	if m["platform"] != platform || !strings.Contains(m["key"], "boot ") || m["reason"] == "" {
		t.Fatalf("after choosing %s, the memory holds %v", platform, m)
	}
	if _, remembered, p := start("warm memory"); !remembered || p != platform {
		t.Errorf("warm memory: remembered %v, platform %s; want %s from the memory", remembered, p, platform)
	}

	// Another boot's memory is stale.
	bootRE := regexp.MustCompile(`boot [0-9a-f-]+`)
	m["key"] = bootRE.ReplaceAllString(m["key"], "boot 00000000-0000-0000-0000-000000000000")
	stale, _ := json.Marshal(m)
	os.WriteFile(path, stale, 0o600)
	// The new choice is measured again: with two candidates it may
	// differ from the first.
	chose, remembered, again := start("stale memory")
	if !chose || remembered {
		t.Errorf("stale memory: chose %v, remembered %v; want a new choice", chose, remembered)
	}
	if got := memory(); got["key"] == m["key"] || got["platform"] != again {
		t.Errorf("after a stale memory: %v, want this boot's key", got)
	}

	// Unreadable: a directory in the file's place.
	os.Remove(path)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(path)
	if chose, remembered, _ := start("unreadable memory"); !chose || remembered {
		t.Errorf("unreadable memory: chose %v, remembered %v; want a new choice", chose, remembered)
	}
}
