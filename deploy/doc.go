// Package deploy holds what kscope ships besides its binary: the systemd
// unit, the default configuration, the Debian package's definition
// (nfpm.yaml and maintainer scripts), the Kubernetes manifests and Helm
// chart, and Grafana dashboards. Its tests build and install the package
// and check the other files against a real agent.
package deploy
