// Package block aggregates block I/O in the kernel per disk and operation,
// like BCC's biolatency -D, biosnoop and iostat: completed requests, their
// bytes, issue-to-completion latency, allocation-to-issue (queue) latency
// and completion errors.
//
// Families (device, op; errors add errno):
//
//	kscope_block_io_operations_total        completed requests
//	kscope_block_io_bytes_total             their size as issued
//	kscope_block_io_duration_seconds        issue to the driver → completion
//	kscope_block_io_queue_duration_seconds  allocation → issue
//	kscope_block_io_errors_total            requests completed with an error
//
// device is the whole disk's kernel name ("vda", "nvme0n1", "loop0", "dm-0"),
// resolved from /sys/dev/block/MAJ:MIN/uevent or /proc/partitions; I/O to a
// partition counts on its disk, since the block layer issues it on the
// disk's queue (as the block tracepoints and biolatency -D show it). op is
// read, write, flush, discard or other (write-zeroes, secure erase, zone and
// driver-private operations), from the request's REQ_OP. errno is the name
// the kernel's blk_status_to_errno gives the completion status.
//
// Only requests seen at issue are counted, once, at their first completion
// event, with the size they were issued with; requests in flight when the
// collector starts are left out. The queue time is the time from the
// request's allocation (rq->start_time_ns, stamped when the queue keeps I/O
// statistics, the default, or has an I/O scheduler) to issue: plugging, the
// scheduler and the dispatch lists; requests without that stamp are
// missing from the queue histogram only.
//
// Hooks: block_rq_issue and block_rq_complete as tp_btf programs, or as
// raw tracepoints where tp_btf is refused or the tracepoints still pass the
// request queue first (before Linux 5.11). Pending requests are keyed by
// the request's address in a hash of 16384 entries; a request that finds it
// full is not counted and counts as lost in the collector's Stats. The
// (disk, op) aggregates are bounded by a 512-entry map (full: lost too) and,
// in what is emitted, by the top-K: the K busiest disk-op pairs plus an
// "other" series, so sum() over a family is the total. Requests complete
// in interrupt context, where no process is known: Config.Filter does not
// apply.
package block
