package uprobe

import (
	"encoding/binary"
	"os"
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
