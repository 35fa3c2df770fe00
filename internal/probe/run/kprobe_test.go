package run

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/probe"
	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/testutil"
)

// TestKernelFunctionProbes runs kprobe, kretprobe, fentry and fexit
// scripts on __x64_sys_getpgid, called exactly 7 times by this test's
// thread as getpgid(0): each compiles to the hook this kernel has (its
// stand-in when only that one exists) and counts exactly; fentry's args
// come from BTF (args->regs->orig_ax is the syscall number, 121, and
// args->regs->di its argument), fexit's and kretprobe's retval is the
// process group. Where the kernel has neither hook of a
// pair (as on kscope's development machines) the error names both and
// kscope doctor.
func TestKernelFunctionProbes(t *testing.T) {
	testutil.RequireBPF(t)
	pgrp := unix.Getpgrp()
	for _, tc := range []struct {
		name, script, want string
		pair               [2]string
		force              bool // compile as the stand-in (pair[1])
	}{
		{"kprobe", "kprobe:__x64_sys_getpgid /tid == %d/ { @[func] = count(); }", "@[__x64_sys_getpgid]: 7\n", [2]string{bpfx.FeatKprobe, bpfx.FeatFentry}, false},
		{"kretprobe", "kretprobe:__x64_sys_getpgid /tid == %d/ { @[retval] = count(); }", fmt.Sprintf("@[%d]: 7\n", pgrp), [2]string{bpfx.FeatKretprobe, bpfx.FeatFexit}, false},
		{"fentry", "fentry:__x64_sys_getpgid /tid == %d/ { @[func, args->regs->orig_ax, args->regs->di] = count(); }", "@[__x64_sys_getpgid, 121, 0]: 7\n", [2]string{bpfx.FeatFentry, bpfx.FeatKprobe}, false},
		{"fexit", "kretfunc:__x64_sys_getpgid /tid == %d/ { @[retval, args->regs->orig_ax] = count(); }", fmt.Sprintf("@[%d, 121]: 7\n", pgrp), [2]string{bpfx.FeatFexit, bpfx.FeatKretprobe}, false},
		// The fallbacks, forced: each hook's stand-in gives the same answer.
		{"kprobe-as-fentry", "kprobe:__x64_sys_getpgid /tid == %d/ { @[func, arg0 != 0] = count(); }", "@[__x64_sys_getpgid, 1]: 7\n", [2]string{bpfx.FeatFentry, bpfx.FeatKprobe}, true},
		{"kretprobe-as-fexit", "kretprobe:__x64_sys_getpgid /tid == %d/ { @[retval] = count(); }", fmt.Sprintf("@[%d]: 7\n", pgrp), [2]string{bpfx.FeatFexit, bpfx.FeatKretprobe}, true},
		{"fentry-as-kprobe", "fentry:__x64_sys_getpgid /tid == %d/ { @[func, args->regs->orig_ax, args->regs->di] = count(); }", "@[__x64_sys_getpgid, 121, 0]: 7\n", [2]string{bpfx.FeatKprobe, bpfx.FeatFentry}, true},
		{"fexit-as-kretprobe", "fexit:__x64_sys_getpgid /tid == %d/ { @[retval] = count(); }", fmt.Sprintf("@[%d]: 7\n", pgrp), [2]string{bpfx.FeatKretprobe, bpfx.FeatFexit}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The calls and the predicate's tid: this goroutine's thread.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			src := fmt.Sprintf(tc.script, unix.Gettid())
			s, err := probe.Load("t.bt", []byte(src), nil)
			if err != nil {
				t.Fatal(err)
			}
			hook := Hook
			if tc.force {
				hook = func(p string) string {
					return map[string]string{"kprobe": "fentry", "fentry": "kprobe", "kretprobe": "fexit", "fexit": "kretprobe"}[p]
				}
			}
			obj, err := codegen.Compile(s.Program, s.Info, codegen.Options{BTF: bpfx.KernelTypes, Hook: hook, File: "t.bt", Source: []byte(src)})
			if err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			sess, err := Start(obj, Config{Out: &out, Err: &errOut, Quiet: true, File: "t.bt", Source: []byte(src)})
			e0, e1 := bpfx.ProbeFeature(tc.pair[0]), bpfx.ProbeFeature(tc.pair[1])
			if e0 != nil && e1 != nil {
				var list ast.ErrorList
				if !errors.As(err, &list) || !strings.Contains(err.Error(), "this kernel has neither "+tc.pair[0]) ||
					!strings.Contains(err.Error(), tc.pair[1]+" fallback") || !strings.Contains(err.Error(), "kscope doctor") {
					t.Fatalf("got %v; want an error naming %s, the %s fallback and kscope doctor", err, tc.pair[0], tc.pair[1])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sess.Close)
			for range 7 {
				if _, err := unix.Getpgid(0); err != nil {
					t.Fatal(err)
				}
			}
			if err := sess.Stop(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != "\n\n"+tc.want {
				t.Errorf("got %q, want %q (compiled as %s)", got, "\n\n"+tc.want, obj.Probes[0].Provider)
			}
		})
	}
}
