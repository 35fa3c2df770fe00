// Command gennames writes a syscall name table of package syscallnames
// from the kernel's UAPI header, which defines every number as
//
//	#define __NR_read 0
//
// or, in the generic table arm64 uses (asm-generic/unistd.h), as another
// define that holds the number:
//
//	#define __NR_fcntl __NR3264_fcntl
//
// The generic table depends on the architecture's __ARCH_WANT_ defines:
// with -cpp the header is one that sets them and includes the table, and
// gennames reads what the C preprocessor (cpp -dM) makes of it.
//
// Usage:
//
//	gennames -o amd64names.go -var amd64Names -arch x86-64 /usr/include/x86_64-linux-gnu/asm/unistd_64.h
//	gennames -o arm64names.go -var arm64Names -arch arm64 -cpp unistd_arm64.h
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// maxNr bounds the numbers accepted: x86-64's are below 1024, x32's carry
// bit 30 and live in another header.
const maxNr = 4096

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gennames", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "names.go", "output file")
	pkg := fs.String("package", "syscallnames", "package name of the output")
	varName := fs.String("var", "amd64Names", "name of the table's variable")
	arch := fs.String("arch", "x86-64", "the architecture, for the table's comment")
	useCPP := fs.Bool("cpp", false, "read the header through the C preprocessor (cpp -dM)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gennames [-o names.go] [-var name] [-arch name] [-cpp] header")
		return 2
	}
	header := fs.Arg(0)
	var in io.Reader
	if *useCPP {
		out, err := exec.Command("cpp", "-dM", header).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
			}
			fmt.Fprintf(stderr, "gennames: preprocessing %s: %v (cpp comes with gcc, the headers with linux-libc-dev)\n", header, err)
			return 1
		}
		in = bytes.NewReader(out)
	} else {
		f, err := os.Open(header)
		if err != nil {
			fmt.Fprintf(stderr, "gennames: %v (the header comes with linux-libc-dev)\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	names, err := parse(in)
	if err != nil {
		fmt.Fprintf(stderr, "gennames: %s: %v\n", header, err)
		return 1
	}
	src, err := render(*pkg, header, *varName, *arch, names)
	if err != nil {
		fmt.Fprintf(stderr, "gennames: %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintf(stderr, "gennames: %v\n", err)
		return 1
	}
	return 0
}

// notSyscalls are __NR_ defines of the generic table that are no syscall:
// the table's size and the first number left to an architecture.
var notSyscalls = map[string]bool{"syscalls": true, "arch_specific_syscall": true}

// parse reads the __NR_ defines of a unistd header into a table indexed by
// number. A define's value is a number or the name of another define that
// is one (the generic table's __NR3264_ defines). Other lines are ignored; a
// malformed define, a number out of range, a name that is not defined, or a
// syscall defined twice is an error.
func parse(r io.Reader) ([]string, error) {
	type define struct {
		name, val string
		line      int
	}
	var defs []define
	numbers := map[string]string{} // every numeric define, for the references
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "#define" {
			continue
		}
		if len(fields) == 3 && isNumber(fields[2]) {
			numbers[fields[1]] = fields[2]
		}
		if !strings.HasPrefix(fields[1], "__NR_") {
			continue
		}
		name := strings.TrimPrefix(fields[1], "__NR_")
		if len(fields) != 3 {
			return nil, fmt.Errorf("line %d: want \"#define __NR_name number\", got %q", line, sc.Text())
		}
		if notSyscalls[name] {
			continue
		}
		defs = append(defs, define{name, fields[2], line})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{}
	for _, d := range defs {
		val := d.val
		if isIdent(val) {
			n, ok := numbers[val]
			if !ok {
				return nil, fmt.Errorf("line %d: %s is %s, which is not defined as a number", d.line, d.name, val)
			}
			val = n
		}
		if !validName(d.name) {
			return nil, fmt.Errorf("line %d: syscall name %q", d.line, d.name)
		}
		nr, err := strconv.Atoi(val)
		if err != nil || nr < 0 || nr >= maxNr {
			return nil, fmt.Errorf("line %d: syscall number %q: want 0 to %d", d.line, val, maxNr-1)
		}
		if seen[d.name] {
			return nil, fmt.Errorf("line %d: %s defined twice", d.line, d.name)
		}
		seen[d.name] = true
		for len(names) <= nr {
			names = append(names, "")
		}
		if names[nr] != "" {
			return nil, fmt.Errorf("line %d: number %d is both %s and %s", d.line, nr, names[nr], d.name)
		}
		names[nr] = d.name
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no __NR_ defines")
	}
	return names, nil
}

// isNumber reports whether s is a decimal number as the headers write them.
func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// isIdent reports whether s is a C identifier.
func isIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// render writes the Go source of the table.
func render(pkg, header, varName, arch string, names []string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by gennames from %s; DO NOT EDIT.\n\n", header)
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	fmt.Fprintf(&b, "// %s holds the %s syscall names by number, as the\n", varName, arch)
	fmt.Fprintf(&b, "// header above defines them; \"\" where it defines none.\n")
	fmt.Fprintf(&b, "var %s = [%d]string{\n", varName, len(names))
	for nr, name := range names {
		if name != "" {
			fmt.Fprintf(&b, "\t%d: %q,\n", nr, name)
		}
	}
	fmt.Fprintf(&b, "}\n")
	return format.Source(b.Bytes())
}
