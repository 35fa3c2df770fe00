package collector_test

import (
	"bytes"
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/bpfx"
	"github.com/kscope/kscope/internal/testutil"
)

// Every collector's committed BPF object, in the test binary: the kernel
// matrix runs it without the source tree.
//
//go:embed */*_bpfel.o
var objectFS embed.FS

// objects are the collectors' objects by path.
func objects(t *testing.T) []string {
	t.Helper()
	objs, err := fs.Glob(objectFS, "*/*_bpfel.o")
	if err != nil || len(objs) == 0 {
		t.Fatalf("no BPF objects found: %v", err)
	}
	return objs
}

// loadObject parses the embedded object at path.
func loadObject(t *testing.T, path string) *ebpf.CollectionSpec {
	t.Helper()
	b, err := objectFS.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return spec
}

// Every CO-RE relocation of every collector's object resolves the same,
// to the same instruction, against the cached types as against the whole
// kernel BTF.
func TestTypeCacheRelocatesAsKernel(t *testing.T) {
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		testutil.Skip(t, "kernel BTF", err)
	}
	bpfx.SetTypeCache(t.TempDir())
	defer bpfx.SetTypeCache("")
	checked := 0
	for _, obj := range objects(t) {
		spec := loadObject(t, obj)
		file := bpfx.TypeCacheFile(spec)
		if file == "" {
			continue
		}
		if err := bpfx.WriteTypeCache(file, spec, kernel); err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
		cached := bpfx.ReadTypeCache(file)
		if cached == nil {
			t.Fatalf("%s: the cache file written cannot be read", obj)
		}
		for name, p := range spec.Programs {
			var relos []*btf.CORERelocation
			var insns []asm.Instruction
			it := p.Instructions.Iterate()
			for it.Next() {
				if r := btf.CORERelocationMetadata(it.Ins); r != nil {
					relos = append(relos, r)
					insns = append(insns, *it.Ins)
				}
			}
			if len(relos) == 0 {
				continue
			}
			fixed := func(target *btf.Spec) []asm.Instruction {
				b, err := btf.NewBuilder(nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				fixups, err := btf.CORERelocate(relos, []*btf.Spec{target}, spec.ByteOrder, b.Add)
				if err != nil {
					t.Fatalf("%s %s: relocating: %v", obj, name, err)
				}
				out := make([]asm.Instruction, len(insns))
				for i, f := range fixups {
					out[i] = insns[i]
					if err := f.Apply(&out[i]); err != nil {
						t.Fatalf("%s %s: applying %s: %v", obj, name, &f, err)
					}
				}
				return out
			}
			want, got := fixed(kernel), fixed(cached)
			for i := range want {
				if want[i].OpCode != got[i].OpCode || want[i].Constant != got[i].Constant || want[i].Offset != got[i].Offset {
					t.Errorf("%s %s: %s relocates to %v with the cached types, %v with the kernel's", obj, name, relos[i], got[i], want[i])
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no CO-RE relocation checked")
	}
	t.Logf("%d relocations checked", checked)
}

// The first load of an object in a boot writes its cached types, the next
// loads them instead of the kernel's; a damaged file is replaced.
func TestTypeCacheLoads(t *testing.T) {
	testutil.RequireBPF(t)
	dir := filepath.Join(t.TempDir(), "btf")
	bpfx.SetTypeCache(dir)
	defer bpfx.SetTypeCache("")
	spec := loadObject(t, "exec/exec_x86_bpfel.o")
	file := bpfx.TypeCacheFile(spec)
	if file == "" {
		t.Fatal("the exec object does not use the type cache")
	}
	load := func() {
		t.Helper()
		coll, err := bpfx.NewCollection(spec.Copy())
		if err != nil {
			t.Fatalf("loading: %+v", err)
		}
		coll.Close()
	}
	hits := bpfx.TypeCacheHits()
	load()
	if bpfx.TypeCacheHits() != hits {
		t.Fatal("the first load used a cache file")
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("the first load wrote no cache file: %v", err)
	}
	if d, _ := os.Stat(dir); d.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %v, want 0700", d.Mode().Perm())
	}
	t.Logf("cache file: %d bytes", fi.Size())
	load()
	if got := bpfx.TypeCacheHits() - hits; got != 1 {
		t.Fatalf("%d loads used the cache file, want 1", got)
	}
	// A damaged file: loaded with the kernel's types, and rewritten.
	if err := os.WriteFile(file, []byte("not BTF"), 0o600); err != nil {
		t.Fatal(err)
	}
	load()
	if got := bpfx.TypeCacheHits() - hits; got != 1 {
		t.Fatalf("%d loads used the cache file, want 1 (the damaged one must not count)", got)
	}
	load()
	if got := bpfx.TypeCacheHits() - hits; got != 2 {
		t.Fatalf("%d loads used the cache file, want 2 (the rewritten one)", got)
	}
	// A directory others may write to is not trusted.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	load()
	if got := bpfx.TypeCacheHits() - hits; got != 2 {
		t.Fatalf("a cache file in a world-writable directory was used")
	}
}
