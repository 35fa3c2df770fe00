// Package probes runs the agent's always-on bpftrace scripts (the agent
// configuration's probes key): each script is compiled by
// internal/probe/codegen and run by internal/probe/run; its maps become
// Prometheus metrics kscope_probe_<script>_<map> and its printf output
// stored events of kind probe.
package probes
