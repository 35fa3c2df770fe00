/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * In-kernel aggregation helpers for kscope's metric collectors: log2
 * histogram slots, read by internal/metrics.Log2 on the Go side.
 */
#ifndef __KSCOPE_AGG_H
#define __KSCOPE_AGG_H

/* Slots of a log2 histogram: slot i counts values v with floor(log2(v)) == i. */
#define HIST_SLOTS 64

static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/* floor(log2(v)), and 0 for v == 0. */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? log2_u32(hi) + 32 : log2_u32((__u32)v);
}

#endif /* __KSCOPE_AGG_H */
