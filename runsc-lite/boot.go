package main

// The hidden `boot` command: the sentry's process, started by package
// sandbox's launcher (OCI create and run).

import (
	"fmt"
	"io"
	"os"

	"github.com/runsc-lite/runsc-lite/sentry/boot"
	"github.com/runsc-lite/runsc-lite/sentry/sandbox"
	"github.com/sirupsen/logrus"
)

const bootCommand = sandbox.BootCommand

// cmdBoot runs the sandbox the launcher describes and ends as its init
// ended. It does not return.
func cmdBoot(_ *options) int {
	cfg, ls, err := sandbox.ReadConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-lite boot: %v\n", err)
		return 125
	}
	cfg.Log = sentryLogger(ls)
	status, err := boot.Run(cfg)
	if err != nil {
		cfg.Log.Error(err)
		if ee, ok := err.(*boot.ExitError); ok {
			return ee.Status
		}
		return 125
	}
	sandbox.Exit(status)
	return 0
}

// sentryLogger makes the sentry's logger from the launcher's settings.
func sentryLogger(ls sandbox.LogSettings) *logrus.Logger {
	log := logrus.New()
	log.SetFormatter(logFormatter{})
	if ls.Format == "json" {
		log.SetFormatter(new(logrus.JSONFormatter))
	}
	var out io.Writer = os.Stderr
	if ls.FD >= 0 {
		out = os.NewFile(uintptr(ls.FD), "log")
	}
	log.SetOutput(out)
	lvl, err := logrus.ParseLevel(ls.Level)
	if err != nil {
		lvl = logrus.WarnLevel
	}
	log.SetLevel(lvl)
	return log
}
