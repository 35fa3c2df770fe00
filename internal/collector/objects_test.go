package collector

import (
	"debug/elf"
	"encoding/binary"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/kscope/kscope/internal/syscallnames"
)

// objectTargets are the bpf2go targets every BPF object is generated for,
// by GOARCH: the architectures kscope ships for.
var objectTargets = map[string]string{"amd64": "x86", "arm64": "arm64"}

// The members of struct pt_regs that only one architecture has: a program
// compiled for one must not have been given the other's registers.
var ptRegsMembers = map[string][]string{
	"amd64": {"di", "si", "orig_ax", "r14"},
	"arm64": {"orig_x0", "syscallno", "pmr_save"},
}

// Maps indexed by syscall number, with an entry per number below
// syscallnames.Slots and one for the rest.
var syscallMaps = map[string][]string{
	"dispatch": {"dispatch_enter", "dispatch_exit"},
	"syscalls": {"sys_stats"},
	"top":      {"focus_calls"},
}

// Every BPF object is committed for x86-64 and arm64, and each is what its
// name says: a 64-bit little-endian BPF ELF file that cilium/ebpf reads
// with the same programs and maps for both, registers of its own
// architecture, and maps indexed by syscall number wide enough for that
// architecture's table.
func TestObjectsForEveryTarget(t *testing.T) {
	x86, err := filepath.Glob("*/*_x86_bpfel.o")
	if err != nil {
		t.Fatal(err)
	}
	bench, _ := filepath.Glob("../../bench/*/*_x86_bpfel.o")
	x86 = append(x86, bench...)
	if len(x86) < 20 {
		t.Fatalf("found %d x86 objects: %v", len(x86), x86)
	}
	for _, xo := range x86 {
		base := strings.TrimSuffix(filepath.Base(xo), "_x86_bpfel.o")
		t.Run(base, func(t *testing.T) {
			specs := map[string]*ebpf.CollectionSpec{}
			for goarch, target := range objectTargets {
				path := filepath.Join(filepath.Dir(xo), base+"_"+target+"_bpfel.o")
				specs[goarch] = checkObject(t, path, goarch, base)
			}
			a, b := specs["amd64"], specs["arm64"]
			if a == nil || b == nil {
				return
			}
			if got, want := sortedKeys(b.Programs), sortedKeys(a.Programs); !slices.Equal(got, want) {
				t.Errorf("arm64 programs %v, x86-64 programs %v", got, want)
			}
			if got, want := sortedKeys(b.Maps), sortedKeys(a.Maps); !slices.Equal(got, want) {
				t.Errorf("arm64 maps %v, x86-64 maps %v", got, want)
			}
		})
	}
}

// checkObject opens one generated object and checks it for goarch.
func checkObject(t *testing.T, path, goarch, base string) *ebpf.CollectionSpec {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v (run make generate)", goarch, err)
		return nil
	}
	defer ef.Close()
	if ef.Class != elf.ELFCLASS64 || ef.Data != elf.ELFDATA2LSB || ef.Machine != elf.EM_BPF {
		t.Errorf("%s: %v %v %v, want ELFCLASS64 ELFDATA2LSB EM_BPF", path, ef.Class, ef.Data, ef.Machine)
	}
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return nil
	}
	if spec.ByteOrder != binary.LittleEndian {
		t.Errorf("%s: byte order %v", path, spec.ByteOrder)
	}
	if len(spec.Programs) == 0 {
		t.Errorf("%s: no programs", path)
	}

	// The registers: arm64's struct pt_regs in arm64 objects, x86-64's in
	// x86-64 ones, where a program reads any.
	var regs *btf.Struct
	if spec.Types != nil && spec.Types.TypeByName("pt_regs", &regs) == nil {
		have := map[string]bool{}
		for _, m := range regs.Members {
			have[m.Name] = true
		}
		for arch, members := range ptRegsMembers {
			for _, m := range members {
				if have[m] != (arch == goarch) {
					t.Errorf("%s: struct pt_regs has %s: %v, want %v", path, m, have[m], arch == goarch)
				}
			}
		}
	}

	// Maps indexed by syscall number cover the architecture's table.
	table := syscallnames.Table(goarch)
	if len(table) == 0 || len(table) > syscallnames.Slots {
		t.Errorf("%s table: %d syscalls, want 1 to %d", goarch, len(table), syscallnames.Slots)
	}
	for _, name := range syscallMaps[base] {
		m, ok := spec.Maps[name]
		if !ok {
			t.Errorf("%s: no map %s", path, name)
		} else if m.MaxEntries != syscallnames.Slots+1 {
			t.Errorf("%s: map %s has %d entries, want %d", path, name, m.MaxEntries, syscallnames.Slots+1)
		}
	}
	return spec
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
