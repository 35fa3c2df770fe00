// Package open traces open, openat and openat2: the path (up to 255 bytes),
// flags, mode and result, failed calls included.
//
// The path is the caller's, as passed: relative paths stay relative to the
// directory fd or the working directory. A path cut at 255 bytes ends in
// "...". The mode is reported as passed, also when the flags make the kernel
// ignore it. Opens done by io_uring do not go through these syscalls and are
// not seen.
package open
