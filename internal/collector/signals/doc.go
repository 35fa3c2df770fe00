// Package signals counts signals and reports the fatal ones: those whose
// target process died of them (its last thread exited with the signal in
// its wait status), with the sender noted when the signal was generated.
//
// Metrics:
//
//	kscope_signals_total{signal}        signals generated and queued (signal:signal_generate
//	                                    with a delivered result), by name (SIGTERM, SIGRTMIN+3)
//	kscope_fatal_signals_total{signal}  processes killed, by the signal that killed them
//
// Events (type "signal"), one per process killed by a signal, at most
// DefaultMaxEventsPerSec per second (the rest count as lost): the header is
// the target's last thread; signal, signo, the si_code of the generating
// call, core_dumped, and the sender's pid, tid, uid and comm, noted at
// signal_generate. The sender is the task that was running when the signal
// was generated: for a signal the kernel sends on its own (SIGSEGV,
// SIGPIPE, an OOM kill) the task in whose context it did, and for one
// generated from an interrupt (a timer's SIGALRM) whichever task was
// interrupted. A process that catches a signal and raises it again to
// itself to die of it keeps the first sender, if that one came within 10 s.
// sender_pid is 0 when no sender was seen (sent before the collector
// started). The pid, uid and comm filters apply to the target's events; the
// counters count every signal.
//
// The registry name is "signals"; the events' type is "signal".
package signals
