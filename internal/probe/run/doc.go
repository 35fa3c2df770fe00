// Package run is the runtime behind `kscope run`: it loads what
// internal/probe/codegen compiled, runs BEGIN, attaches the probes, reads
// the ring buffer (printf, time, print, clear, zero, exit), and at exit
// runs END and prints the maps as bpftrace prints them, in text or in
// bpftrace's JSON output schema. The formatting (printf.go, print.go) is
// pure and tested without BPF.
package run
