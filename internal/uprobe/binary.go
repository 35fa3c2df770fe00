package uprobe

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// Multiarch is Debian's multiarch directory name of the architecture
// kscope was built for (/usr/lib/MULTIARCH).
var Multiarch = map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]

// LibraryDirs are searched, in order, for a library the ldconfig cache does
// not list.
var LibraryDirs = []string{
	"/lib/" + Multiarch, "/usr/lib/" + Multiarch,
	"/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib",
}

// LdCachePath is the ldconfig cache.
var LdCachePath = "/etc/ld.so.cache"

// FindBinary finds an executable or shared library by path or name (see the
// package doc) and returns it as found and the path to open and attach to.
// With pid > 0 the process's mappings come first and paths are opened
// through /proc/PID/root; an empty name is the process's executable.
func FindBinary(name string, pid int) (found, path string, err error) {
	if pid > 0 {
		root := "/proc/" + strconv.Itoa(pid) + "/root"
		if name == "" {
			exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
			if err != nil {
				return "", "", fmt.Errorf("%w: executable of process %d: %v", ErrNoBinary, pid, err)
			}
			exe = strings.TrimSuffix(exe, " (deleted)")
			return exe, root + exe, nil
		}
		files, err := mappedFiles(pid)
		if err != nil {
			return "", "", fmt.Errorf("%w: process %d: %v", ErrNoBinary, pid, err)
		}
		if f := matchLibrary(name, files); f != "" {
			return f, root + f, nil
		}
		if strings.Contains(name, "/") {
			abs := name
			if !filepath.IsAbs(abs) {
				abs, _ = filepath.Abs(name)
			}
			if _, err := os.Stat(root + abs); err == nil {
				return abs, root + abs, nil
			}
		}
		return "", "", fmt.Errorf("%w: process %d maps no file named %q", ErrNoBinary, pid, name)
	}
	if name == "" {
		return "", "", fmt.Errorf("%w: empty binary name (give a path, a program or library name, or --pid)", ErrNoBinary)
	}
	if strings.Contains(name, "/") {
		abs, err := filepath.Abs(name)
		if err != nil {
			return "", "", fmt.Errorf("%w: %v", ErrNoBinary, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return "", "", fmt.Errorf("%w: %s: %v", ErrNoBinary, name, errors.Unwrap(err))
		}
		if st.IsDir() {
			return "", "", fmt.Errorf("%w: %s is a directory", ErrNoBinary, name)
		}
		return abs, abs, nil
	}
	if p, err := exec.LookPath(name); err == nil && !strings.HasPrefix(name, "lib") {
		p, _ = filepath.Abs(p)
		return p, p, nil
	}
	// Libraries of another ABI (a multi-arch host's /lib32 or i386 ones)
	// are passed over for the native one, and named if nothing else fits.
	var foreign []string
	pick := func(paths []string) string {
		for _, p := range matchLibraries(name, paths) {
			var fe *foreignABIError
			switch err := nativeELF(p); {
			case err == nil:
				return p
			case errors.As(err, &fe):
				foreign = append(foreign, fe.Error())
			}
		}
		return ""
	}
	if data, err := os.ReadFile(LdCachePath); err == nil {
		if ents, err := ParseLdCache(data); err == nil {
			var paths []string
			for _, e := range ents {
				paths = append(paths, e.Path)
			}
			if f := pick(paths); f != "" {
				return f, f, nil
			}
		}
	}
	for _, dir := range LibraryDirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		var paths []string
		for _, e := range ents {
			if !e.IsDir() {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
		if f := pick(paths); f != "" {
			return f, f, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		p, _ = filepath.Abs(p)
		return p, p, nil
	}
	if len(foreign) > 0 {
		return "", "", fmt.Errorf("%w: %q: no %s library, only %s", ErrNoBinary, name, nativeABI(), strings.Join(foreign, "; "))
	}
	return "", "", fmt.Errorf("%w: %q is no file, no program in $PATH and no library in %s or %s",
		ErrNoBinary, name, LdCachePath, strings.Join(LibraryDirs, ", "))
}

// foreignABIError is an ELF file built for another ABI than kscope's.
type foreignABIError struct {
	path    string
	class   elf.Class
	machine elf.Machine
}

func (e *foreignABIError) Error() string {
	return e.path + " (" + e.class.String() + " " + e.machine.String() + ")"
}

// nativeMachines maps GOARCH to the ELF machine of its native ABI.
var nativeMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "riscv64": elf.EM_RISCV,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "loong64": elf.EM_LOONGARCH,
}

// nativeABI names the running system's ABI: "ELFCLASS64 EM_X86_64".
func nativeABI() string {
	return elf.ELFCLASS64.String() + " " + nativeMachines[runtime.GOARCH].String()
}

// nativeELF returns nil when path is an ELF file of the running system's
// ABI (64-bit, the machine kscope runs on), a *foreignABIError naming the
// file, its class and machine when it is another ABI's, and another error
// when it is no ELF file (a linker script named libc.so, say).
func nativeELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != nativeMachines[runtime.GOARCH] {
		return &foreignABIError{path, f.Class, f.Machine}
	}
	return nil
}

// matchLibrary picks the path whose file name is name, or else the
// shortest one that starts with name followed by ".", "-" or ".so"
// ("libssl.so" or "libssl" for "libssl.so.3"); an absolute name must match
// exactly.
func matchLibrary(name string, paths []string) string {
	if m := matchLibraries(name, paths); len(m) > 0 {
		return m[0]
	}
	return ""
}

// matchLibraries returns every path that matchLibrary accepts for name,
// best first: exact file names in the order given, then the others,
// shortest first.
func matchLibraries(name string, paths []string) []string {
	var exact, prefix []string
	for _, p := range paths {
		if filepath.IsAbs(name) {
			if p == name {
				exact = append(exact, p)
			}
			continue
		}
		base := filepath.Base(p)
		if base == name {
			exact = append(exact, p)
			continue
		}
		if strings.HasPrefix(base, name) {
			rest := base[len(name):]
			if (rest[0] == '.' || rest[0] == '-') && strings.Contains(base, ".so") {
				prefix = append(prefix, p)
			}
		}
	}
	sort.SliceStable(prefix, func(i, j int) bool { return len(prefix[i]) < len(prefix[j]) })
	return append(exact, prefix...)
}

// mappedFiles lists the files of /proc/PID/maps, executable ones first.
func mappedFiles(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return nil, err
	}
	var exec, other []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		path := strings.Join(fields[5:], " ")
		path = strings.TrimSuffix(path, " (deleted)")
		if seen[path] {
			continue
		}
		seen[path] = true
		if strings.Contains(fields[1], "x") {
			exec = append(exec, path)
		} else {
			other = append(other, path)
		}
	}
	return append(exec, other...), sc.Err()
}

// MappedLibraries returns the files mapped executable by process pid, as
// the process sees them (open them under /proc/PID/root).
func MappedLibraries(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || !strings.Contains(fields[1], "x") || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		path := strings.TrimSuffix(strings.Join(fields[5:], " "), " (deleted)")
		if !seen[path] {
			seen[path] = true
			out = append(out, path)
		}
	}
	return out, nil
}

// LdCacheEntry is one library of the ldconfig cache.
type LdCacheEntry struct {
	Name, Path string
	Flags      int32
}

const (
	ldOldMagic   = "ld.so-1.7.0"
	ldNewMagic   = "glibc-ld.so.cache1.1"
	ldOldEntry   = 12
	ldNewEntry   = 24
	ldNewHeader  = 48
	maxCacheLibs = 1 << 20
)

// ParseLdCache reads /etc/ld.so.cache: the glibc 2.32+ format, alone or
// after the old format's table.
func ParseLdCache(data []byte) ([]LdCacheEntry, error) {
	start := 0
	if bytes.HasPrefix(data, []byte(ldOldMagic)) {
		if len(data) < 16 {
			return nil, errors.New("ld.so.cache: short old header")
		}
		n := binary.LittleEndian.Uint32(data[12:])
		if n > maxCacheLibs {
			return nil, errors.New("ld.so.cache: bad library count")
		}
		start = 16 + int(n)*ldOldEntry
		start = (start + 7) &^ 7
		if start > len(data) {
			return nil, errors.New("ld.so.cache: truncated old table")
		}
	}
	d := data[start:]
	if !bytes.HasPrefix(d, []byte(ldNewMagic)) {
		return nil, errors.New("ld.so.cache: no glibc-ld.so.cache1.1 table")
	}
	if len(d) < ldNewHeader {
		return nil, errors.New("ld.so.cache: short header")
	}
	n := binary.LittleEndian.Uint32(d[20:])
	if n > maxCacheLibs || ldNewHeader+int(n)*ldNewEntry > len(d) {
		return nil, errors.New("ld.so.cache: bad library count")
	}
	str := func(off uint32) (string, bool) {
		if int(off) >= len(d) {
			return "", false
		}
		end := bytes.IndexByte(d[off:], 0)
		if end < 0 {
			return "", false
		}
		return string(d[off : int(off)+end]), true
	}
	out := make([]LdCacheEntry, 0, n)
	for i := 0; i < int(n); i++ {
		e := d[ldNewHeader+i*ldNewEntry:]
		key, ok1 := str(binary.LittleEndian.Uint32(e[4:]))
		val, ok2 := str(binary.LittleEndian.Uint32(e[8:]))
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("ld.so.cache: entry %d: string out of range", i)
		}
		out = append(out, LdCacheEntry{Name: key, Path: val, Flags: int32(binary.LittleEndian.Uint32(e))})
	}
	return out, nil
}
