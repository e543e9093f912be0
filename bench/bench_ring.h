/* SPDX-License-Identifier: MIT */
/* The io_uring driver shared by the ring paths and --scale: one side of
 * n links on one ring, sending the pattern and checking what arrives. */
#ifndef KTL_BENCH_RING_H
#define KTL_BENCH_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

struct ktl_ring;
struct ktl_conn;
struct ring_side;

struct ring_link {
	struct ring_side *side;
	struct ktl_conn *c;           /* NULL once the link ended and was closed */
	struct bench_end *end;        /* cleared with c, if set */
	unsigned char **bufs;         /* depth send buffers, reused in order */
	unsigned next_buf, inflight;
	uint64_t tx_seed, rx_seed;    /* this link's patterns, one per stream */
	uint64_t tx_off, rx_off;      /* queued; received and verified */
	uint64_t tx_done;             /* sent: the kernel has taken it */
	bool shut, closed;
};

struct ring_side {
	struct bench_worker *w;       /* seeds, stop flag, failure, rx counter */
	struct ktl_ring *ring;
	struct ring_link *links;
	unsigned n, n_closed;
	size_t size;                  /* bytes per send */
	unsigned depth;               /* sends queued per link */
	uint64_t tx_total, rx_total;
	bool shut_all, attached;
};

/* Creates the ring (in the calling thread: a ring belongs to the thread
 * that submits to it) unless side->ring is set, and adds the links.
 * Returns 0, or -1 with the worker failed. */
int bench_ring_attach(struct ring_side *side);

/* Attaches if not yet done, keeps w->do_send links sending until the
 * stop flag, then queues close_notify and runs until every link ended.
 * Returns 0, or -1 with the worker failed. */
int bench_ring_drive(struct ring_side *side);

/* After a failure: shuts the sockets of this side's live links, so the
 * peer side's ring sees them end instead of waiting for them forever. */
void bench_ring_abort(struct ring_side *side);

#endif
