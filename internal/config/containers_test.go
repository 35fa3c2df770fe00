package config

import "testing"

func TestContainers(t *testing.T) {
	c, err := Parse("k.yaml", []byte("containers:\n  docker_socket: /run/d.sock\n  podman_socket: \"\"\n  crio_socket: /c.sock\n  max_processes: 100\n  max_containers: 10\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Containers{Enabled: true, DockerSocket: "/run/d.sock", ContainerdSocket: DefaultContainerdSocket, CRIOSocket: "/c.sock", MaxProcesses: 100, MaxContainers: 10}
	if c.Containers != want {
		t.Errorf("got %+v, want %+v", c.Containers, want)
	}
	if c, err = Parse("k.yaml", []byte("containers:\n  enabled: false\n"), nil); err != nil || c.Containers.Enabled {
		t.Errorf("enabled: false: %+v, %v", c.Containers, err)
	}
	if c, err = Parse("k.yaml", []byte("listen: 127.0.0.1:1\n"), nil); err != nil || c.Containers != DefaultContainers() {
		t.Errorf("no section: %+v, %v; want the defaults", c.Containers, err)
	}
	for _, tc := range []struct{ in, err string }{
		{"containers: yes\n", `k.yaml:1: containers: want a mapping of enabled, docker_socket, podman_socket, containerd_socket, crio_socket, max_processes, max_containers`},
		{"containers:\n  enabled: maybe\n", `k.yaml:2: containers.enabled: want true or false, not "maybe"`},
		{"containers:\n  max_processes: 0\n", `k.yaml:2: containers.max_processes: want a positive integer, not "0"`},
		{"containers:\n  max_containers: 2000000\n", `k.yaml:2: containers.max_containers: at most 1048576`},
		{"containers:\n  docker: /x\n", `k.yaml:2: containers.docker: unknown key (known: enabled, docker_socket, podman_socket, containerd_socket, crio_socket, max_processes, max_containers)`},
	} {
		_, err := Parse("k.yaml", []byte(tc.in), nil)
		if err == nil || err.Error() != tc.err {
			t.Errorf("%q: error %v, want %s", tc.in, err, tc.err)
		}
	}
}
