package vdso

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The checked-in image is what its source builds: rebuilt with gen.sh
// where gcc is present, and compared byte for byte when it is the gcc that
// built the checked-in one (vdso.so.gcc); another gcc may lay out the same
// code differently, so then only the rebuilt image's shape is checked and
// the byte comparison is skipped, saying why.
func TestImageMatchesSource(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc: the checked-in vdso.so cannot be rebuilt here")
	}
	out := filepath.Join(t.TempDir(), "vdso.so")
	if b, err := exec.Command("./gen.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, b)
	}
	rebuilt, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkImage(rebuilt); err != nil {
		t.Fatalf("rebuilt image: %v", err)
	}
	checkSymbols(t, rebuilt)
	ver, err := exec.Command(gcc, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("vdso.so.gcc")
	if err != nil {
		t.Fatal(err)
	}
	have := strings.SplitN(string(ver), "\n", 2)[0]
	if have != strings.TrimSpace(string(want)) {
		t.Skipf("gcc is %q, the checked-in image was built by %q: not compared byte for byte", have, strings.TrimSpace(string(want)))
	}
	if !bytes.Equal(rebuilt, image) {
		t.Fatal("vdso.so is not what vdso.c and vdso.lds build: run go generate ./sentry/vdso and commit the result")
	}
}

// The embedded image has what programs look up: every function under its
// own name and __vdso_ name, version LINUX_2.6, and nothing else
// exported.
func TestImageSymbols(t *testing.T) {
	if err := checkImage(image); err != nil {
		t.Fatal(err)
	}
	checkSymbols(t, image)
}

func checkSymbols(t *testing.T, img []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		got[s.Name] = s.Version
	}
	for _, fn := range []string{"clock_gettime", "gettimeofday", "time", "getcpu", "clock_getres"} {
		for _, name := range []string{fn, "__vdso_" + fn} {
			if v, ok := got[name]; !ok || v != "LINUX_2.6" {
				t.Errorf("%s: version %q (present %v), want LINUX_2.6", name, v, ok)
			}
			delete(got, name)
		}
	}
	if len(got) != 0 {
		t.Errorf("other functions exported: %v", got)
	}
	if soname, _ := f.DynString(elf.DT_SONAME); len(soname) != 1 || soname[0] != "linux-vdso.so.1" {
		t.Errorf("soname %v, want linux-vdso.so.1", soname)
	}
}
