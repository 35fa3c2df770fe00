package bpfx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// The kernel type cache. Parsing the kernel's whole BTF (100,000 types and
// more) is the longest step of loading a collector: about 15 ms of CPU, and
// megabytes mapped and allocated, for the few hundred types an object's
// CO-RE relocations look up. With a cache directory set (SetTypeCache),
// loading an object for the first time in a boot writes the kernel types
// its relocations can look up (every kernel type named as a type of the
// object, and what they refer to) to a small BTF file, and later loads
// relocate against that file instead: the same candidates by name, the same
// members and sizes, so the same relocated code.
//
// The file is keyed by the boot (a new kernel is a new boot), the size of
// the kernel's BTF and the names looked up. Objects whose relocations need
// the kernel's own type IDs (bpf_core_type_id_kernel), which a smaller file
// numbers differently, never use it; a load that fails with the cached
// types is retried with the whole kernel BTF and rewrites the file.

var (
	cacheMu  sync.Mutex
	cacheDir string
	// cacheHits counts loads that relocated against a cached file, for tests.
	cacheHits int
)

// SetTypeCache makes loads use and fill the kernel type cache in dir (made
// if missing, owned by this user and writable by it only); "" turns it off.
func SetTypeCache(dir string) {
	cacheMu.Lock()
	cacheDir = dir
	cacheMu.Unlock()
}

// DefaultTypeCache is where kscope's short-lived commands keep the kernel
// type cache.
const DefaultTypeCache = "/var/cache/kscope/btf"

// TypeCacheEnv names the environment variable that moves the kernel type
// cache of kscope's short-lived commands to another directory, or turns
// it off ("off").
const TypeCacheEnv = "KSCOPE_BTF_CACHE"

// TypeCacheDir is the directory those commands use: $KSCOPE_BTF_CACHE, or
// DefaultTypeCache when it is empty; "" when it is "off".
func TypeCacheDir() string {
	switch v := os.Getenv(TypeCacheEnv); v {
	case "":
		return DefaultTypeCache
	case "off":
		return ""
	default:
		return v
	}
}

// TypeCacheFile returns the cache file for spec, or "" when spec cannot use
// the cache (none set, no CO-RE relocations, or relocations that need the
// kernel's type IDs).
func TypeCacheFile(spec *ebpf.CollectionSpec) string {
	cacheMu.Lock()
	dir := cacheDir
	cacheMu.Unlock()
	if dir == "" || spec.Types == nil {
		return ""
	}
	relocs := 0
	for _, p := range spec.Programs {
		it := p.Instructions.Iterate()
		for it.Next() {
			r := btf.CORERelocationMetadata(it.Ins)
			if r == nil {
				continue
			}
			if strings.Contains(r.String(), "target_type_id") {
				return ""
			}
			relocs++
		}
	}
	if relocs == 0 {
		return ""
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	st, err := os.Stat("/sys/kernel/btf/vmlinux")
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n", bytes.TrimSpace(boot), st.Size())
	for _, n := range localTypeNames(spec.Types) {
		fmt.Fprintln(h, n)
	}
	return filepath.Join(dir, hex.EncodeToString(h.Sum(nil)[:16])+".btf")
}

// localTypeNames returns the names, without ___flavor suffixes, of the
// types of the object a CO-RE relocation can start from, sorted.
func localTypeNames(types *btf.Spec) []string {
	seen := map[string]bool{}
	for typ := range types.All() {
		switch typ.(type) {
		case *btf.Struct, *btf.Union, *btf.Enum, *btf.Typedef, *btf.Fwd, *btf.Int, *btf.Float:
		default:
			continue
		}
		n := typ.TypeName()
		if i := strings.Index(n, "___"); i > 0 {
			n = n[:i]
		}
		if n != "" {
			seen[n] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ReadTypeCache returns the cached types in file, or nil.
func ReadTypeCache(file string) *btf.Spec {
	if !privateDir(filepath.Dir(file)) {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	spec, err := btf.LoadSpecFromReader(f)
	if err != nil {
		return nil
	}
	return spec
}

// WriteTypeCache writes the kernel types spec's relocations can look up to
// file, through a temporary file renamed into place.
func WriteTypeCache(file string, spec *ebpf.CollectionSpec, kernel *btf.Spec) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making the type cache directory: %w", err)
	}
	if !privateDir(dir) {
		return fmt.Errorf("type cache directory %s: not owned by this user or writable by others", dir)
	}
	b, err := btf.NewBuilder(nil, nil)
	if err != nil {
		return err
	}
	for _, n := range localTypeNames(spec.Types) {
		types, err := kernel.AnyTypesByName(n)
		if errors.Is(err, btf.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("looking up kernel type %s: %w", n, err)
		}
		for _, t := range types {
			if _, err := b.Add(t); err != nil {
				return fmt.Errorf("adding kernel type %s: %w", n, err)
			}
		}
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		return fmt.Errorf("encoding cached kernel types: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".btf-*")
	if err != nil {
		return fmt.Errorf("writing the type cache: %w", err)
	}
	_, err = tmp.Write(raw)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the type cache: %w", err)
	}
	return nil
}

// privateDir says whether dir is a directory owned by this process's user
// that no one else may write to.
func privateDir(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// TypeCacheHits is how many loads relocated against a cached file.
func TypeCacheHits() int {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	return cacheHits
}

// loadWithTypeCache loads spec with the cached kernel types for it when
// there are, and otherwise with the whole kernel BTF, writing the cache.
// ok is false when spec does not use the cache.
func loadWithTypeCache(spec *ebpf.CollectionSpec, opts ebpf.CollectionOptions) (coll *ebpf.Collection, ok bool, err error) {
	file := TypeCacheFile(spec)
	if file == "" {
		return nil, false, nil
	}
	if cached := ReadTypeCache(file); cached != nil {
		opts.Programs.KernelTypes = cached
		if coll, err := ebpf.NewCollectionWithOptions(spec, opts); err == nil {
			cacheMu.Lock()
			cacheHits++
			cacheMu.Unlock()
			return coll, true, nil
		}
		// Whatever went wrong, the whole kernel BTF decides.
	}
	kt, err := KernelTypes()
	if err != nil {
		kt = nil
	}
	opts.Programs.KernelTypes = kt
	coll, err = ebpf.NewCollectionWithOptions(spec, opts)
	if err != nil || kt == nil {
		return coll, true, err
	}
	// A cache that cannot be written only costs the next load its time.
	_ = WriteTypeCache(file, spec, kt)
	return coll, true, nil
}
