package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tools builds Helm and the manifest checker from deploy/tools (pinned
// there) into a temporary directory.
func tools(t *testing.T) (helm, k8scheck string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "helm.sh/helm/v4/cmd/helm", "./k8scheck")
	cmd.Dir = "tools"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building helm and k8scheck: %v\n%s", err, out)
	}
	return filepath.Join(dir, "helm"), filepath.Join(dir, "k8scheck")
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// The chart lints, renders to objects the Kubernetes and Prometheus
// Operator API types accept strictly, with its defaults and with every
// option on, and deploy/kubernetes/kscope.yaml is its default rendering.
func TestHelmChart(t *testing.T) {
	helm, k8scheck := tools(t)
	run(t, helm, "lint", "--strict", "helm/kscope")

	def := run(t, helm, "template", "kscope", "helm/kscope", "--namespace", "kscope")
	committed, err := os.ReadFile("kubernetes/kscope.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(def, committed) {
		t.Errorf("deploy/kubernetes/kscope.yaml is not the chart's default rendering: regenerate it with\n" +
			"  go -C deploy/tools run helm.sh/helm/v4/cmd/helm template kscope ../helm/kscope --namespace kscope > deploy/kubernetes/kscope.yaml")
	}
	all := run(t, helm, "template", "kscope", "helm/kscope", "--namespace", "monitoring",
		"--set", "serviceMonitor.enabled=true,webConfigSecret=kscope-web,privileged=true,priorityClassName=system-node-critical")

	for name, manifest := range map[string][]byte{"defaults": def, "every option": all} {
		f := filepath.Join(t.TempDir(), "manifest.yaml")
		if err := os.WriteFile(f, manifest, 0o600); err != nil {
			t.Fatal(err)
		}
		out := run(t, k8scheck, f)
		want := map[string]string{"defaults": "4 objects valid", "every option": "5 objects valid"}[name]
		if !strings.Contains(string(out), want) {
			t.Errorf("%s: k8scheck says %q, want %q", name, out, want)
		}
	}

	// What the defaults promise: the node's processes and network, the
	// unit's capabilities instead of privileged, no service account token.
	for _, s := range []string{
		"hostPID: true", "hostNetwork: true", "privileged: false", "drop: [ALL]",
		"- BPF\n", "- PERFMON\n", "type: Unconfined", "readOnlyRootFilesystem: true",
		"automountServiceAccountToken: false", "--listen=$(NODE_IP):9464",
	} {
		if !strings.Contains(string(def), s) {
			t.Errorf("the default rendering lacks %q", s)
		}
	}
	for _, s := range []string{"kind: ServiceMonitor", "--web.config.file=/etc/kscope/web/web-config.yml", "secretName: kscope-web", "scheme: HTTPS", "priorityClassName: system-node-critical"} {
		if !strings.Contains(string(all), s) {
			t.Errorf("the rendering with every option lacks %q", s)
		}
	}
}

// A manifest with a misplaced field fails the check: it is strict.
func TestK8scheckRejectsUnknownFields(t *testing.T) {
	_, k8scheck := tools(t)
	f := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  hostPID: true\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}\n"
	if err := os.WriteFile(f, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(k8scheck, f).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "hostPID") {
		t.Errorf("k8scheck accepted spec.hostPID on a DaemonSet (%v): %s", err, out)
	}
}
