package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
)

// BTFPath is where the kernel publishes its own BTF, which CO-RE programs
// and the tp_btf, fentry, lsm and iterator attach points need.
var BTFPath = "/sys/kernel/btf/vmlinux"

// Report is what doctor found on this host. Its JSON form is the output of
// `kscope doctor --json`.
type Report struct {
	Kernel     string               `json:"kernel"` // uname -r
	BTF        bool                 `json:"btf"`
	Privileges bpfx.Privileges      `json:"privileges"`
	Mounts     []bpfx.Mount         `json:"mounts"`   // empty without privileges
	Features   []bpfx.FeatureResult `json:"features"` // empty without privileges
	OK         bool                 `json:"ok"`       // kscope can run here
	Reason     string               `json:"reason"`   // why not, when !OK

	err        error
	tracefsErr error // why tracepoint events are not reachable
}

// Run checks this host: privileges first, then, if it may, mounts what is
// missing (bpfx.EnsureMounts) and runs every feature probe. Without the
// privileges to load programs it stops there, with Mounts and Features
// empty.
func Run(ctx context.Context) *Report {
	r := &Report{Kernel: kernelRelease(), Mounts: []bpfx.Mount{}, Features: []bpfx.FeatureResult{}}
	_, err := os.Stat(BTFPath)
	r.BTF = err == nil
	r.Privileges, err = bpfx.CurrentPrivileges()
	if err == nil {
		err = bpfx.CheckPrivileges()
	}
	if err != nil {
		r.judge(err, false)
		return r
	}
	r.Mounts = bpfx.EnsureMounts()
	r.Features = bpfx.ProbeFeatures(ctx)
	r.tracefsErr = bpfx.TracefsErr()
	r.judge(nil, r.tracefsErr == nil)
	return r
}

// Err says why kscope cannot run here, or is nil. A lack of privileges
// wraps bpfx.ErrPrivileges.
func (r *Report) Err() error { return r.err }

// judge sets OK, Reason and the error. kscope runs where it may load
// programs, the kernel has BTF, tracefs is reachable and tracepoint
// programs and ring buffers work: everything else has a fallback.
func (r *Report) judge(privErr error, tracefs bool) {
	var errs []error
	if privErr != nil {
		errs = append(errs, privErr)
	} else {
		if !r.BTF {
			errs = append(errs, fmt.Errorf("no kernel BTF (%s is missing)", BTFPath))
		}
		if !tracefs && errors.Is(r.tracefsErr, bpfx.ErrTracefsUnreadable) {
			errs = append(errs, r.tracefsErr)
		} else if !tracefs {
			var why []string
			for _, m := range r.Mounts {
				if m.Error != "" {
					why = append(why, m.Error)
				}
			}
			if len(why) == 0 {
				errs = append(errs, bpfx.ErrNoTracefs)
			} else {
				errs = append(errs, fmt.Errorf("%w: %s", bpfx.ErrNoTracefs, strings.Join(why, "; ")))
			}
		}
		for _, f := range r.Features {
			if f.Supported {
				continue
			}
			switch f.Name {
			case bpfx.FeatTracepoint:
				errs = append(errs, fmt.Errorf("tracepoint programs do not work: %s", f.Error))
			case bpfx.FeatRingbuf:
				errs = append(errs, fmt.Errorf("ring buffers do not work: %s", f.Error))
			}
		}
		if len(r.Features) == 0 {
			errs = append(errs, errors.New("no feature was probed"))
		}
	}
	r.err = join(errs)
	r.OK = r.err == nil
	r.Reason = ""
	if r.err != nil {
		r.Reason = r.err.Error()
	}
}

// join wraps errs in one error that reads "a; b".
func join(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; "), args...)
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people: kernel, BTF, privileges and
// mounts, one per line, then a table of the features.
func (r *Report) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "kernel\t%s\n", r.Kernel)
	btf := "no (" + BTFPath + " is missing)"
	if r.BTF {
		btf = "yes"
	}
	fmt.Fprintf(tw, "btf\t%s\n", btf)
	p := r.Privileges
	fmt.Fprintf(tw, "privileges\troot %s, CAP_BPF %s, CAP_PERFMON %s, CAP_SYS_ADMIN %s\n",
		yesNo(p.Root), yesNo(p.CapBPF), yesNo(p.CapPerfmon), yesNo(p.CapSysAdmin))
	for _, m := range r.Mounts {
		state := "mounted"
		switch {
		case m.Error != "":
			state = "not mounted: " + m.Error
		case m.ByUs:
			state = "mounted by kscope"
		case !m.Mounted:
			state = "not mounted"
		}
		fmt.Fprintf(tw, "mount\t%s on %s: %s\n", m.FS, m.Path, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Features) > 0 {
		buf.WriteByte('\n')
		tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FEATURE\tSUPPORTED\tFALLBACK\tERROR")
		for _, f := range r.Features {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, yesNo(f.Supported), f.Fallback, f.Error)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.OK {
		buf.WriteString("\nkscope can run here.\n")
	}
	// tabwriter pads empty trailing cells; drop the padding.
	lines := strings.SplitAfter(buf.String(), "\n")
	for i, l := range lines {
		if strings.HasSuffix(l, "\n") {
			lines[i] = strings.TrimRight(l, " \n") + "\n"
		}
	}
	_, err := io.WriteString(w, strings.Join(lines, ""))
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
