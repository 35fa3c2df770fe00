// Package event defines kscope's domain events and their kinds, the Sink
// they are delivered to, the one wire encoding of an event (AppendJSON),
// and the pure decoders of kernel values (errno names, open flags, signal
// names) that turn raw numbers into text.
//
// Every event type has a Kind: its name, doc, fields, table columns and
// summary fields. The built-in kinds are registered here; kinds built at
// run time (NewKind, for a script's probes) are registered alongside them
// and carried by Dynamic events, which every sink handles as it does a
// built-in event. The package imports no BPF code, so renderers, stores
// and exporters build and test without a kernel.
package event
