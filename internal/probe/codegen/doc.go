// Package codegen is the back end of kscope's compiler for the bpftrace
// language: Compile turns a checked script (check.Info) into an
// *ebpf.CollectionSpec built with cilium/ebpf's asm package, one program per
// attach point, and a description of what the programs send to user space:
// the script's maps with their key and value layouts, and the ring-buffer
// records (printf, time, exit, print, clear, zero) with an argument layout
// per call site. It loads nothing: the runtime (internal/probe/run) does.
//
// Every value is 64 bits wide or a string of Options.MaxStrlen bytes.
// What the back end does not compile yet is a compile error naming the
// feature, never a program that computes something else.
package codegen
