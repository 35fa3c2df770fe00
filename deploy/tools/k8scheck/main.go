// Command k8scheck validates Kubernetes manifests offline: every document
// of every file given must decode strictly (no unknown or duplicate
// fields, the right types) into the API types of Kubernetes itself and of
// the Prometheus Operator (ServiceMonitor). It stands in for a schema
// validator that would need the schemas from the network.
//
//	k8scheck FILE...   (- for stdin)
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8scheck FILE... (- for stdin)")
		os.Exit(2)
	}
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		fatal(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		fatal(err)
	}
	decoder := serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
	failed := false
	for _, name := range os.Args[1:] {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			fatal(err)
		}
		n, err := check(decoder, data)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			failed = true
			continue
		}
		fmt.Printf("%s: %d objects valid\n", name, n)
	}
	if failed {
		os.Exit(1)
	}
}

// check decodes every document of data; empty documents are skipped.
func check(decoder runtime.Decoder, data []byte) (int, error) {
	r := utilyaml.NewYAMLReader(bufioReader(data))
	n := 0
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		obj, gvk, err := decoder.Decode(raw, nil, nil)
		if err != nil {
			return n, fmt.Errorf("document %d: %w", doc, err)
		}
		if m, ok := obj.(interface{ GetName() string }); !ok || m.GetName() == "" {
			return n, fmt.Errorf("document %d: %s has no metadata.name", doc, gvk.Kind)
		}
		n++
	}
}

// stripComments drops whole-line comments, so a document of only
// comments (a template rendered to nothing) counts as empty.
func stripComments(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		out = append(out, line...)
		out = append(out, '\n')
	}
	return out
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "k8scheck:", err)
	os.Exit(1)
}
