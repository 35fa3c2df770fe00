// Package event defines kscope's domain events, the Sink they are delivered
// to, and the pure decoders of kernel values (errno names, open flags,
// socket addresses) that turn raw numbers into text. It imports no BPF code,
// so renderers, stores and exporters build and test without a kernel.
package event
