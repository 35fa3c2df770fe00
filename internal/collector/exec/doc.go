// Package exec traces execve and execveat: filename, argv (up to 64
// arguments or 4 KiB) and the result, including failed execs.
package exec
