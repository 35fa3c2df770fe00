// Package output renders events for people and programs: aligned columns
// with a header, or one JSON object per line. Both are hand-written
// appenders over a reused buffer, so printing keeps up with the kernel.
package output
