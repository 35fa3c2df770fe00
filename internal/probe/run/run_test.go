package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/probe"
	"github.com/kscope/kscope/internal/probe/ast"
	"github.com/kscope/kscope/internal/probe/check"
	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/testutil"
)

func start(t *testing.T, src string, json bool, params ...string) (*Session, *bytes.Buffer) {
	t.Helper()
	testutil.RequireBPF(t)
	s, err := probe.Load("t.bt", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := codegen.Options{Format: Formats, BTF: bpfx.KernelTypes, Params: params, File: "t.bt", Source: []byte(src)}
	Resolvers(&opts, 0)
	obj, err := codegen.Compile(s.Program, s.Info, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	sess, err := Start(obj, Config{Out: &out, Err: &errOut, JSON: json, File: "t.bt", Source: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	return sess, &out
}

// TestBeginMatchesBpftrace runs a script of every compiled operator,
// aggregation and printf conversion in BEGIN; testdata/begin.txt and
// begin.json are what bpftrace 0.17 prints for it (its "Attaching 1
// probe..." line removed from the text).
// print.bt prints maps and values while running, clears and zeroes;
// top.bt prints maps with print(@m, top, div); tuple.bt keeps tuples in
// $variables and maps.
func TestBeginMatchesBpftrace(t *testing.T) {
	for _, name := range []string{"begin", "print", "top", "tuple"} {
		t.Run(name, func(t *testing.T) { matchBpftrace(t, name) })
	}
}

func matchBpftrace(t *testing.T, name string) {
	src, err := os.ReadFile("testdata/" + name + ".bt")
	if err != nil {
		t.Fatal(err)
	}
	for _, json := range []bool{false, true} {
		want, err := os.ReadFile(map[bool]string{false: "testdata/" + name + ".txt", true: "testdata/" + name + ".json"}[json])
		if err != nil {
			t.Fatal(err)
		}
		sess, out := start(t, string(src), json)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		sess.Wait(ctx)
		if ctx.Err() != nil {
			t.Fatal("exit() did not end the script")
		}
		cancel()
		if err := sess.Stop(); err != nil {
			t.Fatal(err)
		}
		if out.String() != string(want) {
			t.Errorf("json=%v:\ngot\n%s\nwant\n%s", json, out.String(), want)
		}
	}
}

// TestIntervalAndEnd counts interval ticks until exit() on the third,
// then END prints: the predicate keeps later ticks from counting, so the
// output is exact whatever the timing.
func TestIntervalAndEnd(t *testing.T) {
	sess, out := start(t, `BEGIN { printf("begin %s\n", probe); } interval:ms:10 /@ticks < 3/ { @ticks++; if (@ticks == 3) { printf("%s %d\n", probe, @ticks); exit(); } } END { printf("end %d\n", @ticks); }`, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess.Wait(ctx)
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	want := "begin BEGIN\ninterval:ms:10 3\nend 3\n\n\n@ticks: 3\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestVerifierCorpus loads every program of scripts that use each
// compiled feature together: the verifier must accept them all.
func TestVerifierCorpus(t *testing.T) {
	for _, src := range []string{
		`tracepoint:syscalls:sys_enter_openat { @[comm] = count(); @b[comm, pid] = sum(args->flags); printf("%s %s\n", comm, str(args->filename)); }`,
		`tracepoint:sched:sched_process_exec { printf("%s %d %d\n", str(args->filename), args->pid, args->old_pid); @e[args->filename] = count(); }`,
		`tracepoint:sched:sched_switch { @s[args->prev_comm] = hist(args->prev_pid); @n = lhist(args->next_prio, 0, 140, 10); if (args->prev_comm == "swapper/0") { @sw++; } }`,
		`tracepoint:syscalls:sys_exit_read /args->ret > 0/ { @r = stats(args->ret); @m = max(args->ret); @mi = min(args->ret); @a[tid % 4] = avg(args->ret); delete(@a[3]); }`,
		`profile:hz:99 { @cpu[cpu] = count(); @t = elapsed > 0 ? nsecs : 0; }`,
		`interval:s:1 { time(); print(@x); clear(@x); zero(@y); } BEGIN { @x = 1; @y[1] = count(); }`,
	} {
		sess, _ := start(t, src, false)
		sess.Close()
	}
}

// TestToolsCorpusVerifies compiles the tools of Debian's bpftrace package
// and the scripts in internal/probe/testdata: every one that compiles (the
// others stop at a feature that is not compiled yet, with a position) must
// load, the verifier accepting each of its programs.
func TestToolsCorpusVerifies(t *testing.T) {
	testutil.RequireBPF(t)
	files, _ := filepath.Glob("/usr/sbin/*.bt")
	more, _ := filepath.Glob("../testdata/*.bt")
	files = append(files, more...)
	if len(files) == 0 {
		testutil.Skip(t, "bpftrace's tools (Debian's bpftrace package)", errors.New("no /usr/sbin/*.bt"))
	}
	compiled := 0
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		s, err := probe.Load(file, src, &check.Config{Params: []string{"1", "1"}})
		if err != nil {
			t.Logf("%s: %s", file, firstLine(err))
			continue // the front end's own tests cover these
		}
		opts := codegen.Options{Format: Formats, Tracepoints: ListTracepoints, BTF: bpfx.KernelTypes, USDT: USDTSites(0), Params: []string{"1", "1"}, File: file, Source: src}
		Resolvers(&opts, 0)
		obj, err := codegen.Compile(s.Program, s.Info, opts)
		if err != nil {
			var list ast.ErrorList
			if !errors.As(err, &list) {
				t.Errorf("%s: error without a position: %v", file, err)
			}
			t.Logf("%s: %s", file, firstLine(err))
			continue
		}
		coll, err := ebpf.NewCollection(obj.Spec)
		if err != nil {
			if hook := missingHook(obj); hook != "" {
				// fentry and fexit programs load only where the kernel has them.
				t.Logf("%s: needs %s, which this kernel lacks", file, hook)
				continue
			}
			t.Errorf("%s: %v", file, err)
			continue
		}
		coll.Close()
		compiled++
	}
	t.Logf("%d of %d scripts compiled and loaded", compiled, len(files))
	// Debian's 43 tools and kscope's testdata: 36 compile on kscope's
	// development kernel (the others stop at for loops, tuples in keys,
	// and symbols, functions or members this kernel lacks).
	if len(files) == 43 && compiled < 36 {
		t.Errorf("%d of %d scripts compiled, want at least 36", compiled, len(files))
	}
}

// missingHook names a probe type of obj the kernel lacks (fentry, fexit).
func missingHook(obj *codegen.Object) string {
	for _, p := range obj.Probes {
		if (p.Provider == "fentry" || p.Provider == "fexit") && bpfx.ProbeFeature(p.Provider) != nil {
			return p.Provider
		}
	}
	return ""
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// TestProfile attaches a profile probe to every CPU; the predicate lets
// exactly one tick through on CPU 0, whatever the timing.
func TestProfile(t *testing.T) {
	sess, out := start(t, `profile:hz:99 /cpu == 0 && @n < 1/ { @n++; printf("%s on %d\n", probe, cpu); exit(); }`, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("no profile tick on CPU 0 within a minute")
	}
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	if want := "profile:hz:99 on 0\n\n\n@n: 1\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestIntervalUnits counts ticks of interval:us and interval:hz until
// exit() on the third of each; the predicates keep later ticks from
// counting, so the output is exact whatever the timing.
func TestIntervalUnits(t *testing.T) {
	sess, out := start(t, `interval:us:5000 /@us < 3/ { @us++; }
interval:hz:200 /@hz < 3/ { @hz++; if (@hz == 3) { printf("%s\n", probe); } }
interval:ms:5 /@us == 3 && @hz == 3/ { exit(); }`, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("exit() did not end the script")
	}
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	want := "interval:hz:200\n\n\n@hz: 3\n@us: 3\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestHistBits checks hist(v, k): 2^k buckets per power of 2, values
// below 2^(k+1) one per bucket, labels as bpftrace prints them.
func TestHistBits(t *testing.T) {
	sess, out := start(t, `BEGIN { @h = hist(0, 1); @h = hist(1, 1); @h = hist(3, 1); @h = hist(7, 1); @h = hist(8, 1); @h = hist(9, 1); @h = hist(15, 1); @h = hist(16, 1);
@n = hist(-5, 2); @n = hist(1000, 2); @n = hist(1023, 2); exit(); }`, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess.Wait(ctx)
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	line := func(label string, n, bar int) string {
		return fmt.Sprintf("%-16s%8d |%-52s|\n", label, n, strings.Repeat("@", bar))
	}
	want := "\n\n@h: \n" + line("[0]", 1, 26) + line("[1]", 1, 26) + line("[2]", 0, 0) + line("[3]", 1, 26) +
		line("[4, 6)", 0, 0) + line("[6, 8)", 1, 26) + line("[8, 12)", 2, 52) + line("[12, 16)", 1, 26) + line("[16, 24)", 1, 26) + "\n"
	// k = 2: 1000 and 1023 share [896, 1024); -5 is below 0.
	want += "@n: \n" + line("(..., 0)", 1, 26)
	if got := out.String(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, line("[896, 1024)", 2, 52)+"\n") {
		t.Errorf("got\n%s\nwant\n%s…%s", got, want, line("[896, 1024)", 2, 52))
	}
}
