// SPDX-License-Identifier: GPL-2.0-only
/*
 * block: block I/O requests per device and operation, aggregated in the
 * kernel: count, bytes, issue-to-completion latency, allocation-to-issue
 * (queue) latency and completion errors.
 *
 * block_rq_issue (the request goes to the driver) keeps the issue time, the
 * queue time, the disk, the operation and the size per request, keyed by the
 * request's address; block_rq_complete looks it up, adds it to the
 * (device, op) aggregate and deletes it. Requests come from fixed pools
 * (one per tag), so a missed completion leaves an entry that the next issue
 * of the same request overwrites. A request counts once, at its first
 * completion event, with the size it was issued with.
 *
 * Two variants of each program: tp_btf (direct loads through the typed
 * arguments, where the tracepoints take the request first: Linux 5.11+,
 * commit a54895fa057c "block: remove the request_queue to argument request
 * based tracepoints"), and raw_tracepoint with probe reads, where the request
 * sits at index rq_arg among the arguments. Go loads one of them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kscope.h"
#include "kscope_agg.h"

char LICENSE[] SEC("license") = "GPL";

/* Log2 slots kept: 2^40 ns is 18 minutes, above any bucket reported. */
#define IO_SLOTS 40

/* Operation classes, from cmd_flags & REQ_OP_MASK. */
enum io_op {
	IO_READ = 0,
	IO_WRITE = 1,
	IO_FLUSH = 2,
	IO_DISCARD = 3,
	IO_OTHER = 4,
};

#define OP_MASK 0xff /* REQ_OP_MASK: (1 << REQ_OP_BITS) - 1, REQ_OP_BITS = 8 */

struct io_key {
	__u32 dev; /* whole disk, MKDEV(major, first_minor): major << 20 | minor */
	__u32 op;  /* enum io_op */
};

/* Counts are the sums of the slots: one atomic add fewer per request. */
struct io_stats {
	__u64 bytes;                  /* size as issued */
	__u64 dur_sum;                /* ns, issue to completion, summed */
	__u64 queue_sum;              /* ns, allocation to issue, summed */
	__u64 dur_slots[IO_SLOTS];    /* every completed request */
	__u64 queue_slots[IO_SLOTS];  /* those with a queue time */
};

struct err_key {
	__u32 dev;
	__u16 op;
	__u16 status; /* blk_status_t */
};

/* What issue leaves for completion. */
struct pending {
	__u64 issue_ns;
	__u64 queue_ns; /* allocation to issue; 0 when the kernel kept no start time */
	__u32 dev;
	__u32 bytes;
	__u32 op;
	__u32 _pad;
};

/* Force BTF for bpf2go -type. */
const struct io_key *unused_io_key __attribute__((unused));
const struct io_stats *unused_io_stats __attribute__((unused));
const struct err_key *unused_err_key __attribute__((unused));
const struct pending *unused_pending __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized from Go */
	__type(key, __u64);         /* struct request * */
	__type(value, struct pending);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512); /* resized from Go */
	__type(key, struct io_key);
	__type(value, struct io_stats);
} io SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct err_key);
	__type(value, __u64);
} errs SEC(".maps");

/* Index of the struct request * among a raw tracepoint's arguments. */
const volatile __u32 rq_arg = 0;

/* The zero value a new aggregate starts from: too big for the stack. */
const struct io_stats zero_stats = {};

/*
 * Older kernels point the request at its disk (rq_disk); newer ones reach
 * the disk through the queue (q->disk). Commits d152c682f03c ("block: add
 * an explicit ->disk backpointer to the request_queue") and f3fa33acca9f
 * ("block: remove the ->rq_disk field in struct request"), Linux 5.15-5.16.
 */
struct request_queue___x {
	struct gendisk *disk;
} __attribute__((preserve_access_index));

struct request___x {
	struct request_queue___x *q;
	struct gendisk *rq_disk;
	__u32 cmd_flags;
	unsigned int __data_len;
	__u64 start_time_ns;
} __attribute__((preserve_access_index));

static __always_inline __u32 classify(__u32 cmd_flags)
{
	switch (cmd_flags & OP_MASK) {
	case 0: /* REQ_OP_READ */
		return IO_READ;
	case 1: /* REQ_OP_WRITE */
		return IO_WRITE;
	case 2: /* REQ_OP_FLUSH */
		return IO_FLUSH;
	case 3: /* REQ_OP_DISCARD */
		return IO_DISCARD;
	}
	return IO_OTHER;
}

/* Fills f from rq; btf selects direct loads over probe reads. */
static __always_inline void read_request(struct request___x *rq, struct pending *f, bool btf)
{
	struct gendisk *disk;
	__u64 start = 0;
	__u32 flags;

	if (bpf_core_field_exists(rq->rq_disk))
		disk = btf ? rq->rq_disk : BPF_CORE_READ(rq, rq_disk);
	else
		disk = btf ? rq->q->disk : BPF_CORE_READ(rq, q, disk);
	if (disk) {
		int major = btf ? disk->major : BPF_CORE_READ(disk, major);
		int minor = btf ? disk->first_minor : BPF_CORE_READ(disk, first_minor);

		f->dev = (__u32)major << 20 | ((__u32)minor & 0xfffff);
	}
	flags = btf ? rq->cmd_flags : BPF_CORE_READ(rq, cmd_flags);
	f->op = classify(flags);
	f->bytes = btf ? rq->__data_len : BPF_CORE_READ(rq, __data_len);
	/* Set at allocation when the queue keeps I/O statistics or has a scheduler. */
	if (bpf_core_field_exists(rq->start_time_ns))
		start = btf ? rq->start_time_ns : BPF_CORE_READ(rq, start_time_ns);
	if (start && start < f->issue_ns)
		f->queue_ns = f->issue_ns - start;
}

static __always_inline int on_issue(struct request___x *rq, bool btf)
{
	__u64 key = (__u64)rq;
	struct pending f = {};

	f.issue_ns = bpf_ktime_get_ns();
	read_request(rq, &f, btf);
	/* Fails only when the map is full: the request goes uncounted. */
	if (bpf_map_update_elem(&inflight, &key, &f, BPF_ANY))
		count(STAT_LOST);
	return 0;
}

/* Adds one to the log2 slot of v. */
static __always_inline void observe(__u64 *slots, __u64 v)
{
	__u64 slot = log2_u64(v);

	/* Bound the index in the register that is used (older verifiers lose
	 * the bound of a copy). */
	barrier_var(slot);
	if (slot >= IO_SLOTS)
		slot = IO_SLOTS - 1;
	barrier_var(slot);
	__sync_fetch_and_add(&slots[slot], 1);
}

static __always_inline struct io_stats *stats_for(struct io_key *k)
{
	struct io_stats *s = bpf_map_lookup_elem(&io, k);

	if (s)
		return s;
	/* EEXIST from a racing CPU is fine; anything else means full. */
	bpf_map_update_elem(&io, k, &zero_stats, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&io, k);
	if (!s)
		count(STAT_LOST);
	return s;
}

static __always_inline int on_complete(struct request___x *rq, __u8 status)
{
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns(), d;
	struct pending *f;
	struct io_stats *s;
	struct io_key k;

	/* Not seen at issue: issued before we attached, or the map was full. */
	f = bpf_map_lookup_elem(&inflight, &key);
	if (!f)
		return 0;
	k.dev = f->dev;
	k.op = f->op;
	s = stats_for(&k);
	if (s) {
		d = now > f->issue_ns ? now - f->issue_ns : 0;
		__sync_fetch_and_add(&s->bytes, f->bytes);
		__sync_fetch_and_add(&s->dur_sum, d);
		observe(s->dur_slots, d);
		if (f->queue_ns) {
			__sync_fetch_and_add(&s->queue_sum, f->queue_ns);
			observe(s->queue_slots, f->queue_ns);
		}
	}
	if (status) {
		struct err_key ek = {.dev = k.dev, .op = k.op, .status = status};
		__u64 zero = 0, *n = bpf_map_lookup_elem(&errs, &ek);

		if (!n) {
			bpf_map_update_elem(&errs, &ek, &zero, BPF_NOEXIST);
			n = bpf_map_lookup_elem(&errs, &ek);
		}
		if (n)
			__sync_fetch_and_add(n, 1);
		else
			count(STAT_LOST);
	}
	bpf_map_delete_elem(&inflight, &key);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(btf_rq_issue, struct request *rq)
{
	return on_issue((struct request___x *)rq, true);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(btf_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	return on_complete((struct request___x *)rq, error);
}

SEC("raw_tracepoint/block_rq_issue")
int raw_rq_issue(struct bpf_raw_tracepoint_args *ctx)
{
	return on_issue((struct request___x *)(rq_arg ? ctx->args[1] : ctx->args[0]), false);
}

SEC("raw_tracepoint/block_rq_complete")
int raw_rq_complete(struct bpf_raw_tracepoint_args *ctx)
{
	/* (rq, error, nr_bytes), after the request queue on kernels that pass one. */
	if (rq_arg)
		return on_complete((struct request___x *)ctx->args[1], (__u8)ctx->args[2]);
	return on_complete((struct request___x *)ctx->args[0], (__u8)ctx->args[1]);
}
