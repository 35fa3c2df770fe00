package uprobe

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ldCache builds a glibc-ld.so.cache1.1 table of name→path entries,
// optionally after an old-format table.
func ldCache(old bool, ents ...[2]string) []byte {
	var strs []byte
	hdr := make([]byte, ldNewHeader+len(ents)*ldNewEntry)
	copy(hdr, ldNewMagic)
	binary.LittleEndian.PutUint32(hdr[20:], uint32(len(ents)))
	for i, e := range ents {
		rec := hdr[ldNewHeader+i*ldNewEntry:]
		binary.LittleEndian.PutUint32(rec, 0x0303)
		binary.LittleEndian.PutUint32(rec[4:], uint32(len(hdr)+len(strs)))
		strs = append(append(strs, e[0]...), 0)
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(hdr)+len(strs)))
		strs = append(append(strs, e[1]...), 0)
	}
	out := append(hdr, strs...)
	if old {
		pre := make([]byte, 16+ldOldEntry)
		copy(pre, ldOldMagic)
		binary.LittleEndian.PutUint32(pre[12:], 1)
		pre = append(pre, make([]byte, 8-len(pre)%8)...)
		out = append(pre, out...)
	}
	return out
}

func TestParseLdCache(t *testing.T) {
	for _, old := range []bool{false, true} {
		data := ldCache(old, [2]string{"libssl.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.3"}, [2]string{"libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"})
		ents, err := ParseLdCache(data)
		if err != nil {
			t.Fatalf("old=%v: %v", old, err)
		}
		if len(ents) != 2 || ents[0].Name != "libssl.so.3" || ents[1].Path != "/lib/x86_64-linux-gnu/libc.so.6" || ents[0].Flags != 0x0303 {
			t.Errorf("old=%v: %+v", old, ents)
		}
	}
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"magic":     []byte("not a cache at all, not at all, no"),
		"truncated": ldCache(false, [2]string{"a", "b"})[:ldNewHeader+4],
		"string": func() []byte {
			d := ldCache(false, [2]string{"a", "b"})
			binary.LittleEndian.PutUint32(d[ldNewHeader+4:], 1<<30)
			return d
		}(),
		"count": func() []byte { d := ldCache(false); binary.LittleEndian.PutUint32(d[20:], 1<<30); return d }(),
	} {
		if _, err := ParseLdCache(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The machine's own cache, where there is one.
	if data, err := os.ReadFile(LdCachePath); err == nil {
		ents, err := ParseLdCache(data)
		if err != nil || len(ents) == 0 {
			t.Errorf("%s: %d entries, %v", LdCachePath, len(ents), err)
		}
	}
}

func TestMatchLibrary(t *testing.T) {
	paths := []string{"/lib/libssl.so.3", "/lib/libssl3.so", "/lib/libc.so.6", "/lib/libc-2.31.so", "/lib/libcrypto.so.3", "/usr/lib/libpython3.11.so.1.0"}
	for _, c := range []struct{ name, want string }{
		{"libssl.so.3", "/lib/libssl.so.3"},
		{"libssl.so", "/lib/libssl.so.3"},
		{"libssl", "/lib/libssl.so.3"},
		{"libc", "/lib/libc.so.6"},
		{"libcrypto", "/lib/libcrypto.so.3"},
		{"libpython3.11", "/usr/lib/libpython3.11.so.1.0"},
		{"libnope", ""},
		{"/lib/libc.so.6", "/lib/libc.so.6"},
		{"/lib/libc.so", ""},
	} {
		if got := matchLibrary(c.name, paths); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func FuzzParseLdCache(f *testing.F) {
	f.Add(ldCache(false, [2]string{"libc.so.6", "/lib/libc.so.6"}))
	f.Add(ldCache(true, [2]string{"libm.so.6", "/lib/libm.so.6"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, err := ParseLdCache(data)
		if err == nil && len(ents) > len(data) {
			t.Fatalf("%d entries from %d bytes", len(ents), len(data))
		}
	})
}

// Decoding arbitrary bytes as a function never panics.
func FuzzReturns(f *testing.F) {
	f.Add([]byte{0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3})
	f.Add([]byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x20, 0x55, 0xc3})
	f.Fuzz(func(t *testing.T, code []byte) {
		rets, _ := returns(code)
		for _, r := range rets {
			if r >= uint64(len(code)) || code[r] == 0 {
				t.Fatalf("RET at %d of %x", r, code)
			}
		}
		if s := goBodyStart(code); s > uint64(len(code)) {
			t.Fatalf("body at %d of %d bytes", s, len(code))
		}
	})
}

// elf32 is the smallest ELF file debug/elf reads: a 32-bit i386 header.
func elf32() []byte {
	h := make([]byte, 52)
	copy(h, "\x7fELF\x01\x01\x01")
	binary.LittleEndian.PutUint16(h[16:], 3) // ET_DYN
	binary.LittleEndian.PutUint16(h[18:], 3) // EM_386
	binary.LittleEndian.PutUint32(h[20:], 1) // EV_CURRENT
	binary.LittleEndian.PutUint16(h[40:], 52)
	binary.LittleEndian.PutUint16(h[42:], 32)
	binary.LittleEndian.PutUint16(h[46:], 40)
	return h
}

// On a multi-arch host the ld.so cache lists /lib32 libraries too, often
// first and with shorter paths: a library name resolves to the native one,
// and when there is none the error names what was found.
func TestFindBinaryPrefersNativeABI(t *testing.T) {
	dir := t.TempDir()
	lib32 := filepath.Join(dir, "lib32", "libkfake.so.1")
	native := filepath.Join(dir, "lib", "x86_64-linux-gnu", "libkfake.so.1")
	script := filepath.Join(dir, "lib", "libkfake.so")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(lib32), filepath.Dir(native)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(lib32, elf32(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("/* GNU ld script */\nGROUP ( libkfake.so.1 )\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, native); err != nil {
		t.Fatal(err)
	}
	oldCache, oldDirs := LdCachePath, LibraryDirs
	t.Cleanup(func() { LdCachePath, LibraryDirs = oldCache, oldDirs })
	LibraryDirs = nil
	LdCachePath = filepath.Join(dir, "ld.so.cache")

	for _, c := range []struct {
		name    string
		entries [][2]string
		want    string // "" for an error
	}{
		{"libkfake", [][2]string{{"libkfake.so.1", lib32}, {"libkfake.so", script}, {"libkfake.so.1", native}}, native},
		{"libkfake.so.1", [][2]string{{"libkfake.so.1", lib32}, {"libkfake.so.1", native}}, native},
		{"libkfake", [][2]string{{"libkfake.so.1", lib32}, {"libkfake.so", script}}, ""},
	} {
		if err := os.WriteFile(LdCachePath, ldCache(false, c.entries...), 0o644); err != nil {
			t.Fatal(err)
		}
		found, path, err := FindBinary(c.name, 0)
		if c.want != "" {
			if err != nil || found != c.want || path != c.want {
				t.Errorf("%s in %q: found %q path %q err %v, want %s", c.name, c.entries, found, path, err, c.want)
			}
			continue
		}
		want := `binary not found: "libkfake": no ELFCLASS64 EM_X86_64 library, only ` + lib32 + ` (ELFCLASS32 EM_386)`
		if err == nil || !errors.Is(err, ErrNoBinary) || err.Error() != want {
			t.Errorf("%s in %q: found %q, err %v\nwant error %s", c.name, c.entries, found, err, want)
		}
	}
}
