package container

import (
	"strings"
	"testing"
)

const (
	id1 = "4124918b3f7da747791edcfa9be37f4e17854813f0d6aefe56fa3ff30c03a4a8"
	id2 = "e2f0d3e9b1c34bb0a0c4c6f9d7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3"
	uid = "0f8e2d3c-1b4a-4e5f-8a9b-0c1d2e3f4a5b"
)

func TestParsePath(t *testing.T) {
	uidU := strings.ReplaceAll(uid, "-", "_")
	for _, tc := range []struct {
		path string
		want Info
	}{
		{"/", Info{}},
		{"", Info{}},
		{"/user.slice", Info{}},
		{"/init.scope", Info{Unit: "init.scope"}},
		{"/system.slice/nginx.service", Info{Unit: "nginx.service"}},
		{"/system.slice/system-getty.slice/getty@tty1.service", Info{Unit: "getty@tty1.service"}},
		{"/user.slice/user-1000.slice/session-3.scope", Info{Unit: "session-3.scope"}},
		{"/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-1234.scope", Info{Unit: "app-gnome-firefox-1234.scope"}},
		{"/user.slice/user-1000.slice/user@1000.service/init.scope", Info{Unit: "init.scope"}},
		// Docker, cgroupfs and systemd drivers; Docker in Docker
		{"/docker/" + id1, Info{ID: id1, Runtime: "docker"}},
		{"/docker/" + id1 + "/docker/" + id2, Info{ID: id1, Runtime: "docker"}},
		{"/system.slice/docker-" + id1 + ".scope", Info{ID: id1, Runtime: "docker"}},
		{"/system.slice/docker-" + id1 + ".scope/init.scope", Info{ID: id1, Runtime: "docker"}},
		{"/system.slice/docker.service", Info{Unit: "docker.service"}},
		// Kubernetes: cgroupfs driver (containerd or dockershim), systemd
		// driver with containerd and CRI-O
		{"/kubepods/burstable/pod" + uid + "/" + id1, Info{ID: id1, Runtime: "cri", PodUID: uid}},
		{"/kubepods/pod" + uid + "/" + id1, Info{ID: id1, Runtime: "cri", PodUID: uid}},
		{"/kubepods/besteffort/pod" + uid, Info{}},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope", Info{ID: id1, Runtime: "containerd", PodUID: uid}},
		{"/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope", Info{ID: id1, Runtime: "containerd", PodUID: uid}},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + id1 + ".scope", Info{ID: id1, Runtime: "cri-o", PodUID: uid}},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-conmon-" + id1 + ".scope", Info{Unit: "crio-conmon-" + id1 + ".scope"}},
		{"/kubepods/besteffort/pod" + uid + "/crio-" + id1, Info{ID: id1, Runtime: "cri-o", PodUID: uid}},
		// kind and k3s: kubelet inside a container
		{"/docker/" + id2 + "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" + uidU + ".slice/cri-containerd-" + id1 + ".scope", Info{ID: id2, Runtime: "docker"}},
		// Podman: root, rootless, cgroupfs, conmon
		{"/machine.slice/libpod-" + id1 + ".scope", Info{ID: id1, Runtime: "podman"}},
		{"/machine.slice/libpod-" + id1 + ".scope/container", Info{ID: id1, Runtime: "podman"}},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope", Info{ID: id1, Runtime: "podman"}},
		{"/libpod_parent/libpod-" + id1, Info{ID: id1, Runtime: "podman"}},
		{"/machine.slice/libpod-conmon-" + id1 + ".scope", Info{Unit: "libpod-conmon-" + id1 + ".scope"}},
		// plain containerd: nerdctl's scope, ctr's namespace parent
		{"/system.slice/nerdctl-" + id1 + ".scope", Info{ID: id1, Runtime: "containerd"}},
		{"/default/" + id1, Info{ID: id1, Runtime: "containerd"}},
		{"/k8s.io/" + id1, Info{ID: id1, Runtime: "containerd"}},
		{"/system.slice/" + id1, Info{}},
		// seen from inside a cgroup namespace (kscope in a container
		// without the host's): the path climbs out with ..
		{"/../../system.slice/nginx.service", Info{Unit: "nginx.service"}},
		{"/../" + id1, Info{}},
		{"/../../kubepods/burstable/pod" + uid + "/" + id1, Info{ID: id1, Runtime: "cri", PodUID: uid}},
		{"/../docker-" + id1 + ".scope", Info{ID: id1, Runtime: "docker"}},
		// LXC
		{"/lxc/web1", Info{Name: "web1", Runtime: "lxc"}},
		{"/lxc.payload.web1", Info{Name: "web1", Runtime: "lxc"}},
		{"/lxc.payload.web1/system.slice/nginx.service", Info{Name: "web1", Runtime: "lxc"}},
		// not ids: wrong length, upper case
		{"/docker/" + id1[:63], Info{}},
		{"/docker/" + strings.ToUpper(id1), Info{}},
		{"/system.slice/docker-" + id1[:12] + ".scope", Info{Unit: "docker-" + id1[:12] + ".scope"}},
	} {
		if got := ParsePath(tc.path); got != tc.want {
			t.Errorf("ParsePath(%q)\n got %+v\nwant %+v", tc.path, got, tc.want)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       Info
		err        string
	}{
		{"hybrid docker (this host's shape)", "9:name=systemd:/docker/" + id1 + "\n8:pids:/docker/" + id1 + "\n4:memory:/docker/" + id1 + "\n0::/\n", Info{ID: id1, Runtime: "docker"}, ""},
		{"hybrid, container only in one v1 controller", "9:name=systemd:/\n4:memory:/docker/" + id1 + "\n0::/\n", Info{ID: id1, Runtime: "docker"}, ""},
		{"unified", "0::/system.slice/docker-" + id1 + ".scope\n", Info{ID: id1, Runtime: "docker"}, ""},
		{"unit from name=systemd over controllers", "4:memory:/system.slice\n1:name=systemd:/system.slice/sshd.service\n0::/system.slice/other.service\n", Info{Unit: "sshd.service"}, ""},
		{"unit from cgroup2", "4:memory:/system.slice/old.service\n0::/system.slice/sshd.service\n", Info{Unit: "sshd.service"}, ""},
		{"host root", "0::/\n", Info{}, ""},
		{"empty", "", Info{}, ""},
		{"malformed", "0::/\ngarbage\n", Info{}, `line 2: "garbage" is not hierarchy:controllers:path`},
	} {
		got, err := ParseProcCgroup([]byte(tc.data))
		if msg := errString(err); msg != tc.err {
			t.Errorf("%s: error %q, want %q", tc.name, msg, tc.err)
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func FuzzParseProcCgroup(f *testing.F) {
	f.Add([]byte("9:name=systemd:/docker/" + id1 + "\n0::/\n"))
	f.Add([]byte("0::/kubepods.slice/kubepods-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice/cri-containerd-" + id1 + ".scope\n"))
	f.Add([]byte("0::/lxc.payload.x\n1:name=systemd:/user.slice/user-1.slice/session-1.scope"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseProcCgroup(data)
		if err != nil {
			return
		}
		if info.ID != "" && !isID(info.ID) {
			t.Fatalf("id %q is not 64 hex digits", info.ID)
		}
		if info.Runtime == "" && (info.ID != "" || info.Name != "") {
			t.Fatalf("a container without a runtime: %+v", info)
		}
		if info.Runtime != "" && info.Unit != "" {
			t.Fatalf("a container with a unit: %+v", info)
		}
		if !strings.Contains(string(data), info.ID) || !strings.Contains(string(data), info.Unit) {
			t.Fatalf("%+v: not from the input", info)
		}
	})
}
