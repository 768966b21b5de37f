package loader

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseInterpreterLine(t *testing.T) {
	cases := []struct {
		line   string
		interp string
		arg    string
		hasArg bool
		bad    bool
	}{
		{line: "#!/bin/sh\n", interp: "/bin/sh"},
		{line: "#!/bin/sh", interp: "/bin/sh"},
		{line: "#! /bin/sh  -e  \nexit 0\n", interp: "/bin/sh", arg: "-e", hasArg: true},
		{line: "#!/usr/bin/env python3 -u\n", interp: "/usr/bin/env", arg: "python3 -u", hasArg: true},
		{line: "#!\t/bin/sh\t-x\t\n", interp: "/bin/sh", arg: "-x", hasArg: true},
		{line: "#!/bin/sh\r\n", interp: "/bin/sh\r"},
		{line: "#!/bin/sh\x00junk\n", interp: "/bin/sh"},
		{line: "#!/bin/sh -a\x00b\n", interp: "/bin/sh", arg: "-a", hasArg: true},
		{line: "#!/bin/sh \x00b\n", interp: "/bin/sh", arg: "", hasArg: true},
		{line: "#!", interp: ""},
		{line: "#!\n", bad: true},
		{line: "#!  \t \n", bad: true},
		{line: "#!" + strings.Repeat(" ", 300), bad: true},
		{line: "#!/" + strings.Repeat("a", 300), bad: true},
		{line: "#!/" + strings.Repeat("a", 250) + " x", interp: "/" + strings.Repeat("a", 250), arg: "x", hasArg: true},
		// The buffer's last byte is never part of the line.
		{line: "#!/" + strings.Repeat("a", 251) + " x", interp: "/" + strings.Repeat("a", 251)},
		{line: "#!/" + strings.Repeat("a", 252), bad: true},
		{line: "#!/bin/sh " + strings.Repeat("a", 300) + "\n", interp: "/bin/sh", arg: strings.Repeat("a", 255-10), hasArg: true},
	}
	for _, c := range cases {
		head := []byte(c.line)
		if len(head) > scriptBufSize {
			head = head[:scriptBufSize]
		}
		interp, arg, hasArg, err := parseInterpreterLine(head)
		if c.bad {
			if !errors.Is(err, unix.ENOEXEC) {
				t.Errorf("%q: got %q %q %v, %v; want ENOEXEC", c.line, interp, arg, hasArg, err)
			}
			continue
		}
		if err != nil || interp != c.interp || arg != c.arg || hasArg != c.hasArg {
			t.Errorf("%q: got %q %q %v, %v; want %q %q %v", c.line, interp, arg, hasArg, err, c.interp, c.arg, c.hasArg)
		}
	}
}

func TestScriptLoad(t *testing.T) {
	fs := &fileSystem{host: true, files: map[string][]byte{
		"/s1":      []byte("#!/s2 -x\necho hi\n"),
		"/s2":      []byte("#! /bin/true\n"),
		"./run.sh": []byte("#!/p\n"),
		"/p":       validELF(),
	}}
	argv := []string{"s1name", "a", "b"}
	r := mustLoad(t, fs, "/s1", argv, []string{"E=1"})
	want := []string{"/bin/true", "/s2", "-x", "/s1", "a", "b"}
	if !reflect.DeepEqual(r.l.Argv, want) {
		t.Errorf("argv %q, want %q", r.l.Argv, want)
	}
	if r.l.Executable != "/bin/true" || r.l.Comm != "s1" || r.l.Interpreter == "" {
		t.Errorf("Loaded %+v", r.l)
	}
	checkStack(t, r, "/s1", want, []string{"E=1"})
	if argv[0] != "s1name" {
		t.Errorf("caller's argv modified")
	}

	r = mustLoad(t, fs, "./run.sh", []string{"run", "--flag"}, nil)
	if want := []string{"/p", "./run.sh", "--flag"}; !reflect.DeepEqual(r.l.Argv, want) {
		t.Errorf("argv %q, want %q", r.l.Argv, want)
	}
	if r.l.Comm != "run.sh" || r.l.Executable != "/p" {
		t.Errorf("Loaded %+v", r.l)
	}
	// An empty argv still gets the script path.
	r = mustLoad(t, fs, "./run.sh", nil, nil)
	if want := []string{"/p", "./run.sh"}; !reflect.DeepEqual(r.l.Argv, want) {
		t.Errorf("argv %q, want %q", r.l.Argv, want)
	}
}

func TestScriptNesting(t *testing.T) {
	files := map[string][]byte{"/p": validELF()}
	// /s1 -> /s2 -> ... -> /sN -> /p
	chain := func(n int) string {
		for i := 1; i <= n; i++ {
			next := "/p"
			if i < n {
				next = "/s" + string(rune('0'+i+1))
			}
			files["/s"+string(rune('0'+i))] = []byte("#!" + next + "\n")
		}
		return "/s1"
	}
	fs := &fileSystem{files: files}
	r := mustLoad(t, fs, chain(maxScriptDepth), []string{"s"}, nil)
	if want := []string{"/p", "/s4", "/s3", "/s2", "/s1"}; !reflect.DeepEqual(r.l.Argv, want) {
		t.Errorf("argv %q, want %q", r.l.Argv, want)
	}
	fs = &fileSystem{files: files}
	if r := load(fs, chain(maxScriptDepth+1), []string{"s"}, nil); !errors.Is(r.err, unix.ELOOP) {
		t.Errorf("%d nested scripts: %v, want ELOOP", maxScriptDepth+1, r.err)
	}
	if fs.opened != fs.closedN {
		t.Errorf("opened %d, closed %d", fs.opened, fs.closedN)
	}
	files["/loop"] = []byte("#!/loop\n")
	if r := load(&fileSystem{files: files}, "/loop", []string{"loop"}, nil); !errors.Is(r.err, unix.ELOOP) {
		t.Errorf("self-interpreting script: %v, want ELOOP", r.err)
	}
}

func TestScriptErrors(t *testing.T) {
	cases := map[string]struct {
		script string
		want   unix.Errno
	}{
		"no interpreter":      {"#!\n", unix.ENOEXEC},
		"blank interpreter":   {"#!   \n", unix.ENOEXEC},
		"missing interpreter": {"#!/nonexistent\n", unix.ENOENT},
		"text interpreter":    {"#!/text\n", unix.ENOEXEC},
		"truncated path":      {"#!/" + strings.Repeat("x", 400), unix.ENOEXEC},
		"empty interpreter":   {"#!", unix.ENOENT},
	}
	for name, c := range cases {
		fs := &fileSystem{files: map[string][]byte{"/s": []byte(c.script), "/text": []byte("echo\n")}}
		r := load(fs, "/s", []string{"s"}, nil)
		if !errors.Is(r.err, c.want) {
			t.Errorf("%s: %v, want %v", name, r.err, c.want)
		}
		if len(r.mem.calls) != 0 {
			t.Errorf("%s: mapped before failing", name)
		}
	}
}
