package symbolize

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kscope/kscope/internal/testutil"
)

// needTool skips a test when a build tool is missing, and fails it in CI,
// where the toolchain is part of the image.
func needTool(t testing.TB, name string) string {
	t.Helper()
	return testutil.Tool(t, name, "to build a test binary")
}

func build(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return dir
}

// workload is a started test program that printed addresses and waits on
// stdin to exit.
type workload struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs []uint64
}

func start(t *testing.T, bin string) *workload {
	t.Helper()
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workload{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { w.stop() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading addresses: %v", err)
	}
	for _, f := range strings.Fields(line) {
		a, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("parsing %q: %v", line, err)
		}
		w.addrs = append(w.addrs, a)
	}
	return w
}

func (w *workload) pid() uint32 { return uint32(w.cmd.Process.Pid) }

// stop ends the program and reaps it; after it the pid is gone.
func (w *workload) stop() {
	if w.cmd.ProcessState != nil {
		return
	}
	w.stdin.Close()
	_ = w.cmd.Wait()
}

const cProgram = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int hot_function(int n) {
	int s = 0;
	for (int i = 0; i < n; i++) {
		__asm__ volatile("" : "+r"(s));
		s += i;
	}
	return s;
}

int main(void) {
	/* RTLD_NEXT: libc's getpid, not the executable's PLT stub, which is
	   getpid's canonical address in a non-PIE executable. */
	void *gp = dlsym(RTLD_NEXT, "getpid");
	printf("%lx %lx\n", (unsigned long)&hot_function, (unsigned long)gp);
	fflush(stdout);
	return hot_function(getchar()) == 42;
}
`

func TestUserC(t *testing.T) {
	needTool(t, "gcc")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prog.c"), []byte(cProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"-pie", "-no-pie"} {
		t.Run(mode, func(t *testing.T) {
			bin := filepath.Join(dir, "prog"+mode)
			build(t, dir, "gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-fPIE", mode, "-o", bin, "prog.c", "-ldl")
			w := start(t, bin)
			hot, getpid := w.addrs[0], w.addrs[1]
			addrs := []uint64{hot, hot + 4, getpid}

			remembered, firstUse := New(), New()
			if err := remembered.Remember(w.pid()); err != nil {
				t.Fatal(err)
			}
			check := func(when string, frames []Frame) {
				t.Helper()
				if len(frames) != 3 {
					t.Fatalf("%s: %d frames", when, len(frames))
				}
				for i, f := range frames[:2] {
					if f.Function != "hot_function" || f.Module != bin || f.BuildID == "" {
						t.Errorf("%s: frame %d = %+v, want hot_function in %s", when, i, f, bin)
					}
				}
				if f := frames[2]; !strings.Contains(f.Function, "getpid") || !strings.Contains(f.Module, "libc") {
					t.Errorf("%s: getpid frame = %+v", when, f)
				}
			}
			check("running", firstUse.User(w.pid(), addrs))
			w.stop()
			check("exited, first use before", firstUse.User(w.pid(), addrs))
			check("exited, remembered", remembered.User(w.pid(), addrs))
		})
	}
}

func TestUserDeletedFile(t *testing.T) {
	needTool(t, "gcc")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prog.c"), []byte(cProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	build(t, dir, "gcc", "-O1", "-g", "-o", bin, "prog.c", "-ldl")
	w := start(t, bin)
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	f := New().User(w.pid(), w.addrs[:1])[0]
	if f.Function != "hot_function" || f.Module != bin {
		t.Errorf("deleted executable: %+v, want hot_function", f)
	}
}

const cxxProgram = `#include <cstdio>
namespace ns {
struct Klass {
	__attribute__((noinline)) static int method(int n) {
		int s = 0;
		for (int i = 0; i < n; i++) { __asm__ volatile("" : "+r"(s)); s += i; }
		return s;
	}
};
}
int main() {
	std::printf("%lx\n", (unsigned long)&ns::Klass::method);
	std::fflush(stdout);
	return ns::Klass::method(std::getchar()) == 42;
}
`

func TestUserCXX(t *testing.T) {
	needTool(t, "g++")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prog.cc"), []byte(cxxProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	build(t, dir, "g++", "-O1", "-g", "-o", bin, "prog.cc")
	w := start(t, bin)
	if f := New().User(w.pid(), w.addrs)[0]; f.Function != "ns::Klass::method" {
		t.Errorf("got %+v, want ns::Klass::method", f)
	}
}

const goProgram = `package main

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
)

//go:noinline
func hotLoop(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i
	}
	return s
}

func main() {
	fmt.Printf("%x\n", reflect.ValueOf(hotLoop).Pointer())
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(hotLoop(len(line)) & 0)
}
`

func TestUserGo(t *testing.T) {
	goBin := needTool(t, "go")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"plain", nil},
		{"stripped", []string{"-ldflags=-s -w"}},
		{"stripped-pie", []string{"-buildmode=pie", "-ldflags=-s -w"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(dir, tc.name)
			args := append([]string{"build", "-o", bin}, tc.flags...)
			build(t, dir, goBin, append(args, "main.go")...)
			if tc.name == "stripped" {
				// Also without section headers: pclntab found by its magic.
				noSections := bin + "-nosections"
				dropSectionHeaders(t, bin, noSections)
				bin = noSections
			}
			w := start(t, bin)
			s := New()
			addrs := []uint64{w.addrs[0], w.addrs[0] + 8}
			s.User(w.pid(), addrs)
			w.stop()
			for _, f := range s.User(w.pid(), addrs) {
				if f.Function != "main.hotLoop" || filepath.Base(f.File) != "main.go" || f.Line < 11 || f.Line > 17 || f.Module != bin {
					t.Errorf("got %+v, want main.hotLoop at main.go:11-17", f)
				}
			}
		})
	}
}

// dropSectionHeaders copies an ELF64 file with e_shoff, e_shnum and
// e_shstrndx zeroed: the kernel runs it, debug/elf sees no sections.
func dropSectionHeaders(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[0x28:0x30]) // e_shoff
	clear(data[0x3c:0x40]) // e_shnum, e_shstrndx
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(to)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if len(ef.Sections) != 0 {
		t.Fatalf("%d sections left", len(ef.Sections))
	}
}

func TestSharedTables(t *testing.T) {
	s := New()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The sleeper is this binary: it maps libc when this process does,
	// once its dynamic loader got to it.
	self, _ := os.ReadFile("/proc/self/maps")
	dynamic := strings.Contains(string(self), "libc.so")
	tables := map[string][]*fileTable{}
	for range 2 {
		cmd := startSleeper(t)
		if dynamic {
			waitForLibc(t, cmd.Process.Pid)
		}
		p, err := s.remember(uint32(cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.maps {
			if m.path == exe || strings.Contains(m.path, "libc.so") {
				tables[m.path] = append(tables[m.path], m.table)
			}
		}
	}
	if len(tables[exe]) == 0 {
		t.Fatalf("%s not mapped", exe)
	}
	for path, ts := range tables {
		if len(ts) != 2 || ts[0] == nil || ts[0] != ts[1] {
			t.Errorf("%s tables not shared: %p", path, ts)
		}
	}
	s.Forget(uint32(0))
	if s.procs.len() != 2 {
		t.Errorf("remembered %d processes, want 2", s.procs.len())
	}
}

// sleeperEnv makes the test binary sleep instead of testing (TestMain):
// a process mapping the test binary, here and in the test VM.
const sleeperEnv = "KSCOPE_SYMBOLIZE_SLEEPER"

func TestMain(m *testing.M) {
	if os.Getenv(sleeperEnv) != "" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startSleeper runs the test binary as a sleeping process, killed at the
// end of the test.
func startSleeper(t testing.TB) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), sleeperEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// waitForLibc waits until the dynamic loader of pid has mapped libc.
func waitForLibc(t testing.TB, pid int) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
		for _, m := range parseMaps(data) {
			if strings.Contains(m.path, "libc.so") {
				return m.path
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d never mapped libc", pid)
	return ""
}

func TestKernel(t *testing.T) {
	data := testutil.Kallsyms(t)
	var addr uint64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "schedule" && (f[1] == "T" || f[1] == "t") {
			addr, _ = strconv.ParseUint(f[0], 16, 64)
			break
		}
	}
	if addr == 0 {
		t.Fatal("no schedule in /proc/kallsyms")
	}
	for _, f := range New().Kernel([]uint64{addr, addr + 8}) {
		if f.Function != "schedule" || f.Module != KernelModule {
			t.Errorf("got %+v, want schedule in [kernel]", f)
		}
	}
}

func TestUserUnknown(t *testing.T) {
	s := New()
	// pid 0 has no /proc entry: module-less frames.
	if f := s.User(0, []uint64{0x1234})[0]; f.String() != "0x1234" {
		t.Errorf("no process: %q", f.String())
	}
	// An address in no mapping of a live process.
	if f := s.User(uint32(os.Getpid()), []uint64{0x10})[0]; f.String() != "0x10" {
		t.Errorf("no mapping: %q", f.String())
	}
}
