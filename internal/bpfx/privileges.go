package bpfx

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capability numbers from linux/capability.h.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// ErrPrivileges is returned (wrapped) when kscope lacks what it needs to load
// tracing programs.
var ErrPrivileges = errors.New("needs root or CAP_BPF+CAP_PERFMON")

// Privileges describes the effective privileges of this process.
type Privileges struct {
	Root        bool `json:"root"`
	CapBPF      bool `json:"cap_bpf"`
	CapPerfmon  bool `json:"cap_perfmon"`
	CapSysAdmin bool `json:"cap_sys_admin"`
}

// StatusPath is read for the effective capability set.
var StatusPath = "/proc/self/status"

// CurrentPrivileges reads the effective uid and capabilities of this process.
func CurrentPrivileges() (Privileges, error) {
	f, err := os.Open(StatusPath)
	if err != nil {
		return Privileges{}, fmt.Errorf("reading capabilities: %w", err)
	}
	defer f.Close()
	var p Privileges
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Uid": // real, effective, saved, fs
			if f := strings.Fields(v); len(f) > 1 {
				p.Root = f[1] == "0"
			}
		case "CapEff":
			caps, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return p, fmt.Errorf("parsing CapEff %q: %w", v, err)
			}
			p.CapBPF = caps&(1<<capBPF) != 0
			p.CapPerfmon = caps&(1<<capPerfmon) != 0
			p.CapSysAdmin = caps&(1<<capSysAdmin) != 0
		}
	}
	return p, sc.Err()
}

// Missing names the capabilities that stand between this process and
// loading tracing programs, or nil when it has enough. CAP_SYS_ADMIN stands
// in for both CAP_BPF and CAP_PERFMON, as on kernels before 5.8.
func (p Privileges) Missing() []string {
	if p.CapSysAdmin || (p.CapBPF && p.CapPerfmon) {
		return nil
	}
	var m []string
	if !p.CapBPF {
		m = append(m, "CAP_BPF")
	}
	if !p.CapPerfmon {
		m = append(m, "CAP_PERFMON")
	}
	return m
}

// CheckPrivileges returns an error wrapping ErrPrivileges that names what is
// missing, or nil.
func CheckPrivileges() error {
	p, err := CurrentPrivileges()
	if err != nil {
		return err
	}
	if m := p.Missing(); m != nil {
		return fmt.Errorf("%w (missing %s)", ErrPrivileges, strings.Join(m, ", "))
	}
	return nil
}
