// Package doctor answers "can kscope run on this host, and with what?": it
// gathers the kernel release, BTF, privileges, the pseudo filesystems and
// the result of every feature probe (bpfx.ProbeFeatures) into a Report,
// judges whether kscope can run, and renders the report as a table or JSON.
// The probing itself lives in bpfx; this package only assembles and renders.
package doctor
