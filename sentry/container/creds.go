package container

import (
	"fmt"

	"github.com/runsc-lite/runsc-lite/sentry/auth"
	"github.com/runsc-lite/runsc-lite/sentry/process"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// credentials returns the credentials p is exec'd with, as runc sets them
// before its execve: p.User's IDs and groups (nil: the host user's,
// process.HostCredentials), auth.NewUser's capabilities (all for uid 0,
// none for anybody else) replaced by p.Capabilities' sets when given, and
// no_new_privs from p.NoNewPrivileges. execve then transforms the sets as
// Linux does (auth.Credentials.ForExec: a non-root program keeps only its
// ambient capabilities).
func (p *Process) credentials() (*auth.Credentials, error) {
	var c *auth.Credentials
	if u := p.User; u != nil {
		c = auth.NewUser(u.UID, u.GID, u.AdditionalGids)
	} else {
		c = process.HostCredentials()
	}
	if cs := p.Capabilities; cs != nil {
		var err error
		set := func(field string, names []string) auth.CapabilitySet {
			var s auth.CapabilitySet
			for _, name := range names {
				cp, ok := CapabilityByName(name)
				if !ok && err == nil {
					err = fmt.Errorf("process.capabilities.%s: unknown capability %q", field, name)
				}
				s |= auth.CapabilitySetOf(cp)
			}
			return s
		}
		c.Bounding = set("bounding", cs.Bounding)
		c.Permitted = set("permitted", cs.Permitted)
		c.Inheritable = set("inheritable", cs.Inheritable)
		// capset(2) refuses an effective capability that is not
		// permitted, and an ambient one must be both permitted and
		// inheritable (runc's ambient raise fails otherwise, with a
		// warning): the sets are cut down to what Linux can hold.
		c.Effective = set("effective", cs.Effective) & c.Permitted
		c.Ambient = set("ambient", cs.Ambient) & c.Permitted & c.Inheritable
		if err != nil {
			return nil, err
		}
	}
	c.NoNewPrivs = p.NoNewPrivileges
	return c, nil
}

// CapabilityByName returns the capability named name (CAP_CHOWN).
func CapabilityByName(name string) (linux.Capability, bool) {
	for cp := linux.Capability(0); cp <= linux.CAP_LAST_CAP; cp++ {
		if cp.String() == name {
			return cp, true
		}
	}
	return 0, false
}
