package kvm

import (
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestSelfTestBounded runs the start-up self-test on this host's /dev/kvm:
// whatever it answers, it must answer quickly and in one line.
func TestSelfTestBounded(t *testing.T) {
	logrus.SetLevel(logrus.DebugLevel)
	defer logrus.SetLevel(logrus.InfoLevel)
	start := time.Now()
	err := SelfTest()
	d := time.Since(start)
	t.Logf("SelfTest: %v (%v)", err, d)
	if d > selfTestTimeout+time.Second {
		t.Errorf("SelfTest took %v", d)
	}
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("SelfTest error is not one line: %q", err)
	}
}
