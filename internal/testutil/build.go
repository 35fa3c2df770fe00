package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// BuildC compiles the C or C++ source src with compiler (gcc, g++, clang…)
// and args into an executable in a temporary directory and returns its
// path. The source is named after the compiler's language (prog.c or
// prog.cc). A missing compiler skips the test (a failure in CI); the test VM
// has none, so scripts/test-vm.sh skips tests that need one by name.
func BuildC(t testing.TB, compiler, src string, args ...string) string {
	t.Helper()
	cc, err := exec.LookPath(compiler)
	if err != nil {
		Skip(t, compiler+" (to build the C workload)", err)
	}
	dir := t.TempDir()
	name := "prog.c"
	if compiler == "g++" || compiler == "c++" || compiler == "clang++" {
		name = "prog.cc"
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command(cc, append(append([]string{}, args...), "-o", bin, name)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", compiler, err, out)
	}
	return bin
}

// BuildGo builds the Go program src (package main, standard library only)
// with `go build` and extra build flags into a temporary directory and
// returns its path. A missing Go toolchain skips the test (a failure in CI).
func BuildGo(t testing.TB, src string, flags ...string) string {
	t.Helper()
	// The toolchain that built this test binary, which runs where it was
	// built: runtime.GOROOT's deprecation is about binaries copied away.
	//lint:ignore SA1019 see above
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			Skip(t, "the go command (to build the Go workload)", err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module prog\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command(gobin, append(append([]string{"build"}, flags...), "-o", bin, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
