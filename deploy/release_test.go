package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// releaseArches are the architectures make release builds for, by GOARCH,
// and the ELF machine of each.
var releaseArches = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// make release makes, for amd64 and arm64, a static stripped binary that
// carries its version, a .deb of that binary and a tarball of it with the
// unit, the default configuration and the alert rules; and nothing else.
func TestReleaseArtifacts(t *testing.T) {
	dir, version := buildRelease(t)
	var want []string
	for arch := range releaseArches {
		want = append(want, "kscope_linux_"+arch, "kscope_"+version+"_"+arch+".deb",
			"kscope_"+version+"_linux_"+arch+".tar.gz")
	}
	slices.Sort(want)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("make release made %v, want %v", got, want)
	}

	for arch, machine := range releaseArches {
		t.Run(arch, func(t *testing.T) {
			bin, err := os.ReadFile(filepath.Join(dir, "kscope_linux_"+arch))
			if err != nil {
				t.Fatal(err)
			}
			checkReleaseBinary(t, bin, machine, version)

			// The .deb: its control fields, and the same binary inside.
			deb := filepath.Join(dir, "kscope_"+version+"_"+arch+".deb")
			fields, err := exec.Command("dpkg-deb", "-f", deb, "Package", "Architecture", "Version").Output()
			if err != nil {
				t.Fatalf("dpkg-deb -f: %v", err)
			}
			if want := "Package: kscope\nArchitecture: " + arch + "\nVersion: " + version + "\n"; !strings.HasPrefix(string(fields), want) {
				t.Errorf("control fields:\n%s\nwant prefix:\n%s", fields, want)
			}
			root := t.TempDir()
			if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
				t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
			}
			inDeb, err := os.ReadFile(filepath.Join(root, "usr/bin/kscope"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(inDeb, bin) {
				t.Errorf("the .deb's /usr/bin/kscope differs from kscope_linux_%s", arch)
			}

			// The tarball: one directory, the binary executable.
			top := "kscope_" + version + "_linux_" + arch
			files := readTarGz(t, filepath.Join(dir, top+".tar.gz"))
			wantFiles := map[string]string{
				top + "/kscope":           "kscope_linux_" + arch,
				top + "/kscope.service":   "systemd/kscope.service",
				top + "/kscope.yml":       "config/kscope.yml",
				top + "/kscope.rules.yml": "../rules/kscope.rules.yml",
			}
			for name, src := range wantFiles {
				f, ok := files[name]
				if !ok {
					t.Errorf("tarball lacks %s (has %v)", name, slices.Sorted(maps.Keys(files)))
					continue
				}
				want := bin
				if src != "kscope_linux_"+arch {
					if want, err = os.ReadFile(src); err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(f.data, want) {
					t.Errorf("tarball's %s differs from %s", name, src)
				}
				if name == top+"/kscope" && f.mode&0o111 != 0o111 {
					t.Errorf("tarball's kscope has mode %v", f.mode)
				}
			}
			if len(files) != len(wantFiles) {
				t.Errorf("tarball has %v, want %d files", slices.Sorted(maps.Keys(files)), len(wantFiles))
			}
		})
	}
}

// The arm64 build runs: under qemu's user-mode emulator it prints its
// version and architecture.
func TestReleaseArm64Runs(t *testing.T) {
	qemu := testutil.Tool(t, "qemu-aarch64", "running the arm64 build")
	dir, version := buildRelease(t)
	out, err := exec.Command(qemu, filepath.Join(dir, "kscope_linux_arm64"), "version").CombinedOutput()
	want := regexp.MustCompile(`^kscope v` + regexp.QuoteMeta(version) + ` \(\S+, go\S+ linux/arm64\)\n$`)
	if err != nil || !want.Match(out) {
		t.Fatalf("qemu-aarch64 kscope_linux_arm64 version: %v: %q, want %v", err, out, want)
	}
}

// checkReleaseBinary checks that bin is a static, stripped executable for
// machine that carries version.
func checkReleaseBinary(t *testing.T, bin []byte, machine elf.Machine, version string) {
	t.Helper()
	ef, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if ef.Machine != machine || ef.Type != elf.ET_EXEC {
		t.Errorf("%v %v, want %v ET_EXEC", ef.Machine, ef.Type, machine)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("a program interpreter: not static")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("needs %v: not static", libs)
	}
	if ef.Section(".symtab") != nil {
		t.Error("a .symtab: not stripped")
	}
	if !bytes.Contains(bin, []byte("v"+version)) {
		t.Errorf("the version v%s is not embedded", version)
	}
}

type tarFile struct {
	data []byte
	mode os.FileMode
}

// readTarGz returns the regular files of a .tar.gz by name.
func readTarGz(t *testing.T, path string) map[string]tarFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string]tarFile{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", h.Name, h.Uid, h.Gid)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = tarFile{data, h.FileInfo().Mode()}
	}
	return files
}
