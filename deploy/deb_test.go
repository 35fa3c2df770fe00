package deploy

import (
	"bufio"
	"debug/elf"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kscope/kscope/internal/testutil"
)

// release is what one `make release` made for every test of the package.
var release struct {
	once    sync.Once
	dir     string
	version string
	err     error
}

// buildRelease runs `make release` once, with a version of its own, and
// returns the directory it wrote the binary and the .deb to.
func buildRelease(t *testing.T) (dir, version string) {
	t.Helper()
	testutil.Tool(t, "make", "building the release")
	release.once.Do(func() {
		release.version = "9.8.7-test"
		release.dir, release.err = os.MkdirTemp("", "kscope-release-")
		if release.err != nil {
			return
		}
		out, err := exec.Command("make", "-C", "..", "release", "RELEASE_DIR="+release.dir, "VERSION=v"+release.version).CombinedOutput()
		if err != nil {
			release.err = fmt.Errorf("make release: %v\n%s", err, out)
		}
	})
	if release.err != nil {
		t.Fatal(release.err)
	}
	return release.dir, release.version
}

func TestMain(m *testing.M) {
	code := m.Run()
	if release.dir != "" {
		os.RemoveAll(release.dir)
	}
	os.Exit(code)
}

// buildDeb returns the .deb for arch (a GOARCH) that make release made,
// and its version.
func buildDeb(t *testing.T, arch string) (deb, version string) {
	t.Helper()
	dir, version := buildRelease(t)
	debs, _ := filepath.Glob(filepath.Join(dir, "*_"+arch+".deb"))
	if len(debs) != 1 {
		t.Fatalf("make release made %v, want one .deb for %s", debs, arch)
	}
	return debs[0], version
}

// unitCaps reads the capability bounding set of the systemd unit.
func unitCaps(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("systemd/kscope.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapabilityBoundingSet="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatal("kscope.service sets no CapabilityBoundingSet")
	return nil
}

// The package installs into an empty root with dpkg; there the static
// binary prints its version and attaches every default collector, and
// with only the unit's capabilities it attaches the same ones.
func TestDebInstallsInCleanRoot(t *testing.T) {
	testutil.RequireRoot(t, "installing a package into a chroot and loading BPF")
	testutil.RequireBPF(t)
	dpkg := testutil.Tool(t, "dpkg", "installing the package")
	deb, version := buildDeb(t, "amd64")

	fields, err := exec.Command("dpkg-deb", "-f", deb, "Package", "Architecture", "Version").Output()
	if err != nil {
		t.Fatalf("dpkg-deb -f: %v", err)
	}
	want := "Package: kscope\nArchitecture: amd64\nVersion: " + version + "\n"
	if !strings.HasPrefix(string(fields), want) {
		t.Errorf("control fields:\n%s\nwant prefix:\n%s", fields, want)
	}
	conffiles, err := exec.Command("dpkg-deb", "--ctrl-tarfile", deb).Output()
	if err != nil || !strings.Contains(string(conffiles), "conffiles") {
		t.Errorf("no conffiles in the control archive (%v)", err)
	}

	// An empty root: dpkg's database and nothing else. Maintainer
	// scripts run outside it, with DPKG_ROOT set, as for image builds.
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(dpkg, "--root="+root, "--force-script-chrootless", "--log=/dev/null", "-i", deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	for path, mode := range map[string]os.FileMode{
		"usr/bin/kscope":                        0o755,
		"usr/lib/systemd/system/kscope.service": 0o644,
		"etc/kscope/kscope.yml":                 0o600,
	} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("installed: %v", err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("/%s mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	status, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Status}", "kscope").Output()
	if err != nil || string(status) != "install ok installed" {
		t.Errorf("dpkg-query status %q (%v), want install ok installed", status, err)
	}

	// Static and stripped: no interpreter, no libraries, no symbol table.
	bin := filepath.Join(root, "usr/bin/kscope")
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("kscope has a program interpreter: not static")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("kscope needs %v: not static", libs)
	}
	if ef.Section(".symtab") != nil {
		t.Error("kscope has a .symtab: not stripped")
	}
	ef.Close()

	out, err := exec.Command("chroot", root, "/usr/bin/kscope", "version").CombinedOutput()
	if err != nil {
		t.Fatalf("kscope version in the chroot: %v\n%s", err, out)
	}
	wantVersion := regexp.MustCompile(`^kscope v` + regexp.QuoteMeta(version) + ` \(\S+, go\S+ linux/amd64\)\n$`)
	if !wantVersion.Match(out) {
		t.Errorf("kscope version printed %q, want %v", out, wantVersion)
	}

	// agent --check in the chroot, with the kernel's file systems
	// mounted in a mount namespace of its own (gone when it exits).
	script := `set -e
for d in proc sys dev; do mount --rbind /$d "$1/$d"; done
exec chroot "$1" /usr/bin/kscope agent --check --config /etc/kscope/kscope.yml --data-dir /tmp/data`
	full, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root).CombinedOutput()
	if err != nil {
		t.Fatalf("agent --check in the chroot: %v\n%s", err, full)
	}
	fullStatus := statuses(string(full))
	for _, c := range []string{"exec", "process", "syscalls", "tcp"} {
		if !strings.HasPrefix(fullStatus[c], "attached") {
			t.Errorf("agent --check in the chroot: %s %q, want attached:\n%s", c, fullStatus[c], full)
		}
	}

	// The unit's capabilities, and no others: the same collectors attach.
	var set []string
	for _, c := range unitCaps(t) {
		set = append(set, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	// Outside the chroot, the configuration's files are under root.
	conf, err := os.ReadFile(filepath.Join(root, "etc/kscope/kscope.yml"))
	if err != nil {
		t.Fatal(err)
	}
	hostConf := filepath.Join(t.TempDir(), "kscope.yml")
	if err := os.WriteFile(hostConf, []byte(strings.ReplaceAll(string(conf), "/usr/share/kscope/", root+"/usr/share/kscope/")), 0o600); err != nil {
		t.Fatal(err)
	}
	bounded, err := exec.Command("setpriv", "--bounding-set", "-all,"+strings.Join(set, ","),
		bin, "agent", "--check", "--config", hostConf, "--data-dir", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("agent --check with only %v: %v\n%s", set, err, bounded)
	}
	if got := statuses(string(bounded)); !maps.Equal(got, fullStatus) {
		t.Errorf("agent --check with only the unit's capabilities:\n%s\nwith all of root's:\n%s", bounded, full)
	}
}

// statuses reads agent --check's table: each collector's status and
// details, without the time it took.
func statuses(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 3 {
			m[f[0]] = strings.Join(append([]string{f[1]}, f[3:]...), " ")
		}
	}
	return m
}
