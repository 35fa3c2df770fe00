package run

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/kscope/kscope/internal/probe/codegen"
	"github.com/kscope/kscope/internal/uprobe"
)

// Resolvers sets the options through which the compiler asks the system
// for symbol addresses (kaddr, uaddr) and cgroup ids (cgroupid); pid is
// -p's process (0: none), whose mappings find binaries.
func Resolvers(opts *codegen.Options, pid int) {
	opts.KernelSymbol = KernelSymbol
	opts.UserSymbol = func(bin, name string) (uint64, error) { return UserSymbol(bin, name, pid) }
	opts.CgroupID = CgroupID
	if n, err := ebpf.PossibleCPU(); err == nil {
		opts.CPUs = n
	}
	opts.Functions = func(bin, glob string) ([]string, error) {
		if bin != "" {
			_, fns, err := ListFunctions(bin, glob, pid)
			return fns, err
		}
		fns, _, err := ListKernelFunctions(glob, true, false)
		names := make([]string, len(fns))
		for i, f := range fns {
			names[i] = f.Name
		}
		return names, err
	}
}

// KallsymsFile is where kernel symbols are read.
var KallsymsFile = "/proc/kallsyms"

// KernelSymbol returns the address of a kernel symbol from /proc/kallsyms.
func KernelSymbol(name string) (uint64, error) {
	f, err := os.Open(KallsymsFile)
	if err != nil {
		return 0, fmt.Errorf("reading kernel symbols: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		// "ADDRESS TYPE NAME [MODULE]"
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		sym := line[sp+1:]
		if strings.HasSuffix(line, "]") {
			fields := strings.Fields(line)
			if len(fields) < 3 {
				continue
			}
			sym = fields[2]
		}
		if sym != name {
			continue
		}
		addr, err := strconv.ParseUint(line[:strings.IndexByte(line, ' ')], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("reading kernel symbols: %w", err)
		}
		if addr == 0 {
			return 0, errors.New("/proc/kallsyms hides addresses (kptr_restrict): run as root")
		}
		return addr, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading kernel symbols: %w", err)
	}
	return 0, fmt.Errorf("the kernel has no symbol %s", name)
}

// UserSymbol returns the address a binary's symbol table gives name: the
// address in the process for a binary loaded where it was linked (not a
// position-independent executable or a library).
func UserSymbol(bin, name string, pid int) (uint64, error) {
	found, path, err := uprobe.FindBinary(bin, pid)
	if err != nil {
		return 0, err
	}
	ef, err := elf.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", found, err)
	}
	defer ef.Close()
	for _, read := range []func() ([]elf.Symbol, error){ef.Symbols, ef.DynamicSymbols} {
		syms, _ := read()
		for _, s := range syms {
			if s.Name == name && s.Value != 0 {
				return s.Value, nil
			}
		}
	}
	return 0, fmt.Errorf("%s has no symbol %s", found, name)
}

// CgroupID returns the id of the cgroup v2 directory at path, as the
// kernel's bpf_get_current_cgroup_id gives it: the directory's file
// handle.
func CgroupID(path string) (uint64, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err != nil {
		return 0, fmt.Errorf("reading the cgroup id of %s: %w", path, err)
	}
	if len(h.Bytes()) < 8 {
		return 0, fmt.Errorf("reading the cgroup id of %s: a %d-byte file handle, not a cgroup's", path, len(h.Bytes()))
	}
	return binary.LittleEndian.Uint64(h.Bytes()), nil
}
