package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"golang.org/x/sys/unix"
)

// cmdDebug is `runsc-lite debug --pid SENTRYPID`: it asks a running
// sentry to dump every task and run queue of its kernel to its log
// (stderr, or the --debug-log file) by sending it boot.DebugSignal. It
// checks first that the process is a runsc-lite sentry, since the signal's
// default action would kill anything else.
func cmdDebug(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("debug", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pid := fs.Int("pid", 0, "host `PID` of the runsc-lite process running the sandbox")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: runsc-lite debug --pid SENTRYPID")
		fmt.Fprintln(stderr, "Dumps the sandbox's tasks and run queues to the sentry's log.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *pid <= 0 || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	if err := checkSentry(*pid); err != nil {
		fmt.Fprintf(stderr, "runsc-lite debug: %v\n", err)
		return 1
	}
	if err := unix.Kill(*pid, boot.DebugSignal); err != nil {
		fmt.Fprintf(stderr, "runsc-lite debug: signalling %d: %v\n", *pid, err)
		return 1
	}
	return 0
}

// checkSentry returns an error unless pid is a runsc-lite process: its
// executable is this one, or its command name is runsc-lite's and it runs
// the do command.
func checkSentry(pid int) error {
	dir := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return fmt.Errorf("no process %d: %v", pid, err)
	}
	if self, err := os.Stat("/proc/self/exe"); err == nil {
		if exe, err := os.Stat(dir + "/exe"); err == nil && os.SameFile(self, exe) {
			return nil
		}
	}
	comm, _ := os.ReadFile(dir + "/comm")
	argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	isDo := false
	for _, a := range argv[1:] {
		if a == "do" || a == "boot" {
			isDo = true
			break
		}
	}
	if strings.TrimSpace(string(comm)) == "runsc-lite" && isDo {
		return nil
	}
	return fmt.Errorf("process %d (%s) is not a runsc-lite sandbox", pid, strings.TrimSpace(string(comm)))
}
