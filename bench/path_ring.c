/* SPDX-License-Identifier: MIT */
/* `uring` and `ktls-uring`: links driven by the io_uring engine, one ring
 * per side.  The same driver runs --scale with many links on one ring. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench.h"
#include "bench_ring.h"
#include "ktlink.h"
#include "pattern.h"

static int ring_probe(const struct bench_run *run, char *why, size_t len)
{
	struct ktl_support sup;

	if (ktl_probe_support(&sup) == 0 && !sup.io_uring) {
		snprintf(why, len, "io_uring unavailable: %s", strerror(sup.io_uring_err));
		return 1;
	}
	return 0;
}

/* Fills the buffer that just completed (sends finish in order) and queues
 * it again with the next stretch of the stream. */
static int queue_next(struct ring_link *l)
{
	struct ring_side *s = l->side;
	unsigned char *b = l->bufs[l->next_buf];
	int ret;

	/* The peer may have ended the link before this side sent anything:
	 * a late-starting thread, or a peer that failed.  Nothing to send. */
	if (!l->c)
		return 0;
	pattern_fill(b, s->size, l->tx_off, l->tx_seed);
	ret = ktl_ring_send(s->ring, l->c, b, s->size);
	if (ret < 0)
		return bench_fail(s->w, "ktl_ring_send at offset %llu: %s", (unsigned long long)l->tx_off,
				  ktl_last_error());
	l->tx_off += s->size;
	l->next_buf = (l->next_buf + 1) % s->depth;
	l->inflight++;
	return 0;
}

static void on_data(struct ktl_conn *c, void *user, const void *buf, size_t len)
{
	struct ring_link *l = user;
	struct ring_side *s = l->side;

	if (s->w->failed)
		return;
	if (bench_check_seed(s->w, l->rx_seed, buf, len, l->rx_off) < 0)
		return;
	l->rx_off += len;
	s->rx_total += len;
	atomic_store_explicit(&s->w->rx_bytes, s->rx_total, memory_order_relaxed);
}

static void on_sent(struct ktl_conn *c, void *user, size_t len)
{
	struct ring_link *l = user;
	struct ring_side *s = l->side;

	l->inflight--;
	l->tx_done += len;
	s->tx_total += len;
	if (!atomic_load_explicit(&s->w->st->stop, memory_order_relaxed) && !s->w->failed)
		queue_next(l);
}

static void on_close(struct ktl_conn *c, void *user, int code)
{
	struct ring_link *l = user;
	struct ring_side *s = l->side;

	l->closed = true;
	s->n_closed++;
	/* In both directions the peer may stop first; what we had queued
	 * still went out before the engine ended the link. */
	if (code && !s->w->failed)
		bench_fail(s->w, "link ended: %s", ktl_last_error());
	ktl_close(c);
	l->c = NULL;
	if (l->end)
		l->end->tls = NULL, l->end->fd = -1;
}

static const struct ktl_ring_ops ops = { on_data, on_sent, on_close };

int bench_ring_attach(struct ring_side *s)
{
	unsigned i;

	if (s->attached)
		return 0;
	if (!s->ring && ktl_ring_new(&s->ring, NULL) < 0)
		return bench_fail(s->w, "ktl_ring_new: %s", ktl_last_error());
	for (i = 0; i < s->n; i++) {
		struct ring_link *l = &s->links[i];

		l->side = s;
		if (ktl_ring_add(s->ring, l->c, &ops, l) < 0)
			return bench_fail(s->w, "ktl_ring_add: %s", ktl_last_error());
	}
	s->attached = true;
	/* Arms the receives, so memory measured now is an idle link's. */
	return ktl_ring_run(s->ring, 0) < 0 ? bench_fail(s->w, "ktl_ring_run: %s", ktl_last_error()) : 0;
}

void bench_ring_abort(struct ring_side *s)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->links[i].c)
			shutdown(ktl_fd(s->links[i].c), SHUT_RDWR);
}

static int drive(struct ring_side *s)
{
	struct bench_worker *w = s->w;
	unsigned i;
	int ret;

	if (!s->depth)
		s->depth = 2;
	if (bench_ring_attach(s) < 0)
		return -1;
	for (i = 0; i < s->n && w->do_send; i++) {
		struct ring_link *l = &s->links[i];
		unsigned k;

		l->bufs = calloc(s->depth, sizeof(*l->bufs));
		if (!l->bufs)
			return bench_fail(w, "out of memory");
		for (k = 0; k < s->depth; k++) {
			l->bufs[k] = malloc(s->size);
			if (!l->bufs[k] || queue_next(l) < 0)
				return w->failed ? -1 : bench_fail(w, "out of memory");
		}
	}
	while (s->n_closed < s->n) {
		bool stop = atomic_load_explicit(&w->st->stop, memory_order_relaxed);

		if (stop && w->do_send && !s->shut_all) {
			/* Queued after what is in flight: close_notify goes last. */
			for (i = 0; i < s->n; i++)
				if (s->links[i].c && !s->links[i].shut)
					ktl_ring_shutdown(s->ring, s->links[i].c), s->links[i].shut = true;
			s->shut_all = true;
		}
		if (stop && w->failed)
			break;
		ret = ktl_ring_run(s->ring, 50);
		if (ret < 0)
			return bench_fail(w, "ktl_ring_run: %s", ktl_last_error());
		if (ret == 0 && ktl_ring_count(s->ring) == 0 && s->n_closed < s->n)
			return bench_fail(w, "ring has no links left but %u did not end", s->n - s->n_closed);
	}
	w->tx_bytes = s->tx_total;
	return w->failed ? -1 : 0;
}

int bench_ring_drive(struct ring_side *s)
{
	int ret = drive(s);

	if (ret < 0 || s->w->failed)
		bench_ring_abort(s);
	return ret;
}

static void free_side(struct ring_side *s)
{
	unsigned i, k;

	for (i = 0; i < s->n; i++) {
		if (s->links[i].bufs)
			for (k = 0; k < s->depth; k++)
				free(s->links[i].bufs[k]);
		free(s->links[i].bufs);
	}
}

/* One link per ring per side; the sender keeps `depth` sends queued so
 * the ring always has the next one ready (about 256 KiB in flight). */
static int ring_duplex(struct bench_worker *w)
{
	struct ring_link link = { .c = w->e->tls, .end = w->e, .tx_seed = w->tx_seed, .rx_seed = w->rx_seed };
	struct ring_side side = { .w = w, .links = &link, .n = 1, .size = w->st->size };
	int ret;

	/* Bounded in bytes: all of it drains after the stop, and with many
	 * links of large messages two each would outlast --time by far. */
	side.depth = (unsigned)(256 * 1024 / side.size);
	side.depth = side.depth < 1 ? 1 : side.depth > 64 ? 64 : side.depth;
	ret = bench_ring_drive(&side);
	/* Links still attached (after a failure) are detached, not closed;
	 * the path's close() then closes them. */
	if (side.ring)
		ktl_ring_free(side.ring);
	free_side(&side);
	return ret;
}

static int uring_probe(const struct bench_run *run, char *why, size_t len)
{
	return ring_probe(run, why, len);
}

static int ktls_uring_probe(const struct bench_run *run, char *why, size_t len)
{
	int ret = bench_ktls_probe(run, why, len);

	return ret ? ret : ring_probe(run, why, len);
}

static void ring_describe(struct bench_end *e, char *buf, size_t len)
{
	char d[140];

	bench_ktl_describe(e, d, sizeof(d));
	snprintf(buf, len, "%s, io_uring", d);
}

const struct bench_path bench_path_uring = {
	.id = BP_URING,
	.desc = "io_uring engine, records in GnuTLS (kTLS off)",
	.probe = uring_probe,
	.open = bench_gnutls_open,
	.close = bench_ktl_close,
	.duplex = ring_duplex,
	.describe = ring_describe,
};

const struct bench_path bench_path_ktls_uring = {
	.id = BP_KTLS_URING,
	.desc = "io_uring engine on kTLS",
	.probe = ktls_uring_probe,
	.open = bench_ktls_open,
	.close = bench_ktl_close,
	.duplex = ring_duplex,
	.describe = ring_describe,
};
