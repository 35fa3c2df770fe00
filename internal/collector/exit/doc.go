// Package exit traces the end of processes: exit code, terminating signal,
// core dump and lifetime.
package exit
