/* SPDX-License-Identifier: MIT */
/* The io_uring engine: one ring drives many established links.  This file
 * owns the ring, the link table and the run loop; ring_tx.c and ring_rx.c
 * hold the two directions.
 *
 * Every completion is first copied into r->q and handled from there, so a
 * link can be detached at any moment (from a callback, or by
 * ktl_ring_free) by pulling its own completions out of the queue and
 * waiting for the rest: a link's memory, and every buffer it lent the
 * kernel, is released only when no operation of it is left in flight. */
#include <errno.h>
#include <gnutls/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ring_int.h"

#define MAP_MIN 64

static unsigned map_slot(const struct ktl_ring *r, const struct ktl_conn *c)
{
	uint64_t h = (uint64_t)(uintptr_t)c * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> 32) & (r->map_size - 1);
}

static struct ring_link *link_find(const struct ktl_ring *r, const struct ktl_conn *c)
{
	struct ring_link *l;

	if (!r->map)
		return NULL;
	for (l = r->map[map_slot(r, c)]; l; l = l->hnext)
		if (l->c == c)
			return l;
	return NULL;
}

static int map_grow(struct ktl_ring *r)
{
	unsigned size = r->map_size ? r->map_size * 2 : MAP_MIN;
	struct ring_link **old = r->map, *l;
	unsigned old_size = r->map_size;

	r->map = calloc(size, sizeof(*r->map));
	if (!r->map) {
		r->map = old;
		return -ENOMEM;
	}
	r->map_size = size;
	for (unsigned i = 0; i < old_size; i++) {
		while ((l = old[i])) {
			unsigned s = map_slot(r, l->c);

			old[i] = l->hnext;
			l->hnext = r->map[s];
			r->map[s] = l;
		}
	}
	free(old);
	return 0;
}

static void map_del(struct ktl_ring *r, struct ring_link *l)
{
	struct ring_link **pp = &r->map[map_slot(r, l->c)];

	while (*pp && *pp != l)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = l->hnext;
}

/* ---- submission ---------------------------------------------------------- */

static int submit(struct ktl_ring *r, unsigned wait_nr, int timeout_ms)
{
	unsigned ready = io_uring_sq_ready(&r->ring);
	int ret;

	if (wait_nr && timeout_ms >= 0) {
		struct __kernel_timespec ts = { .tv_sec = timeout_ms / 1000,
						.tv_nsec = (long long)(timeout_ms % 1000) * 1000000 };
		struct io_uring_cqe *cqe;

		ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, wait_nr, &ts, NULL);
		if (ret >= 0 || ret == -ETIME)
			ret = (int)ready;
	} else if (wait_nr) {
		ret = io_uring_submit_and_wait(&r->ring, wait_nr);
	} else {
		/* Also runs deferred task work, so completions become visible. */
		ret = io_uring_submit_and_get_events(&r->ring);
	}
	/* Waits that carried nothing new are not submissions. */
	if (ret > 0) {
		r->st.submits++;
		r->st.sqes += (unsigned)ret;
	}
	return ret;
}

/* An SQE, flushing a full SQ first: more queued work than SQ entries is
 * normal with many links, and costs an extra submit only then. */
struct io_uring_sqe *ring_sqe(struct ktl_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe) {
		submit(r, 0, 0);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

/* Submits what is queued now (also running deferred task work); true if
 * the completion of (l, op) is then already in the CQ: the kernel finished
 * it inline.  The CQE stays there for the run loop to reap. */
bool ring_submit_now(struct ring_link *l, enum ring_op op)
{
	struct ktl_ring *r = l->r;
	uint64_t ud = (uint64_t)(uintptr_t)l | op;
	struct io_uring_cqe *cqe;
	unsigned head;

	submit(r, 0, 0);
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		if (cqe->user_data == ud)
			return true;
	}
	return false;
}

void ring_op_start(struct ring_link *l, struct io_uring_sqe *sqe, enum ring_op op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)l | op);
	l->inflight++;
	l->r->inflight++;
}

static void cancel_op(struct ring_link *l, enum ring_op op)
{
	struct io_uring_sqe *sqe = ring_sqe(l->r);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)l | op, 0);
	io_uring_sqe_set_data64(sqe, OP_IGNORE);
}

void ring_recycle(struct ktl_ring *r, unsigned bid)
{
	int mask = io_uring_buf_ring_mask(r->n_bufs);

	io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * r->buf_size, r->buf_size, (unsigned short)bid,
			      mask, 0);
	io_uring_buf_ring_advance(r->br, 1);
}

/* ---- completions --------------------------------------------------------- */

/* Moves every visible CQE into r->q.  Stops early rather than drop one if
 * the queue cannot grow; the rest stay in the CQ for the next reap. */
static unsigned reap(struct ktl_ring *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe) {
		if (r->q_len == r->q_cap) {
			size_t cap = r->q_cap ? r->q_cap * 2 : 256;
			struct ring_cqe *q = realloc(r->q, cap * sizeof(*q));

			if (!q)
				break;
			r->q = q;
			r->q_cap = cap;
		}
		n++;
		if (cqe->user_data == LIBURING_UDATA_TIMEOUT)
			continue;
		r->q[r->q_len++] = (struct ring_cqe){ cqe->user_data, cqe->res, cqe->flags };
	}
	io_uring_cq_advance(&r->ring, n);
	r->st.cqes += n;
	return n;
}

static struct ring_link *cqe_link(const struct ring_cqe *e)
{
	return (struct ring_link *)(uintptr_t)(e->ud & ~(uint64_t)OP_MASK);
}

static void dispatch(struct ktl_ring *r, const struct ring_cqe *e)
{
	struct ring_link *l = cqe_link(e);
	enum ring_op op = (enum ring_op)(e->ud & OP_MASK);

	if (!(e->flags & IORING_CQE_F_MORE)) {
		l->inflight--;
		r->inflight--;
	}
	if (op == OP_RECV)
		ring_rx_complete(l, e->res, e->flags);
	else
		ring_tx_complete(l, op, e->res);
	if (!l->detaching)
		ring_mark_dirty(l);
}

void ring_mark_dirty(struct ring_link *l)
{
	if (l->dirty || l->detaching)
		return;
	l->dirty = true;
	l->dnext = l->r->dirty;
	l->r->dirty = l;
}

int ring_link_fail(struct ring_link *l, int code)
{
	if (!l->c->fatal)
		l->c->fatal = code;
	if (!l->ending) {
		l->ending = true;
		l->end_code = code;
		snprintf(l->end_msg, sizeof(l->end_msg), "%s", ktl_last_error());
	}
	ring_mark_dirty(l);
	return code;
}

/* Waits until nothing of l is in flight, handling its completions (the
 * handlers see l->detaching) and queueing everyone else's. */
static int drain(struct ring_link *l)
{
	struct ktl_ring *r = l->r;

	for (size_t i = r->q_head; i < r->q_len; i++) {
		if (r->q[i].ud != OP_IGNORE && cqe_link(&r->q[i]) == l) {
			struct ring_cqe e = r->q[i];

			r->q[i].ud = OP_IGNORE;
			dispatch(r, &e);
		}
	}
	while (l->inflight) {
		size_t from = r->q_len;
		int ret = submit(r, 1, -1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			return ktl_err(-ret, "ring: waiting for link %s to go idle: %s", l->c->peer,
				       strerror(-ret));
		reap(r);
		for (size_t i = from; i < r->q_len; i++) {
			if (r->q[i].ud != OP_IGNORE && cqe_link(&r->q[i]) == l) {
				struct ring_cqe e = r->q[i];

				r->q[i].ud = OP_IGNORE;
				dispatch(r, &e);
			}
		}
	}
	return 0;
}

static void unlink_link(struct ring_link *l)
{
	struct ktl_ring *r = l->r;

	if (l->dirty) {
		struct ring_link **pp = &r->dirty;

		while (*pp != l)
			pp = &(*pp)->dnext;
		*pp = l->dnext;
		l->dirty = false;
	}
	map_del(r, l);
	l->c->ring = NULL;
	if (l->lprev)
		l->lprev->lnext = l->lnext;
	else
		r->links = l->lnext;
	if (l->lnext)
		l->lnext->lprev = l->lprev;
	r->count--;
}

/* Takes l off the ring.  graceful: sends in flight finish and what arrives
 * meanwhile is kept for ktl_recv; else everything in flight is cancelled.
 * Returns 0, or a negative code if the ring could not wait for the kernel:
 * then l's memory must be left alone, the kernel may still write into it. */
static int detach(struct ring_link *l, bool graceful)
{
	struct ktl_conn *c = l->c;
	int ret;

	l->detaching = true;
	l->absorb = graceful && !c->fatal;
	if (l->rx_armed)
		cancel_op(l, OP_RECV);
	if (!graceful && l->tx_busy) {
		cancel_op(l, OP_SEND);
		cancel_op(l, OP_SPLICE_IN);
		cancel_op(l, OP_SPLICE_OUT);
	}
	ret = drain(l);
	unlink_link(l);
	/* The fd first: the restores below point each direction at its own
	 * transport again. */
	if (!c->tx_kernel || !c->rx_kernel)
		gnutls_transport_set_int(c->s, c->fd);
	ring_rx_restore(l);
	ring_tx_restore(l);
	return ret;
}

static void link_free(struct ring_link *l)
{
	ring_rx_release(l);
	ring_tx_release(l);
	free(l);
}

/* The link ended: off the ring, then on_close, which owns the conn. */
static void link_end(struct ring_link *l)
{
	struct ktl_conn *c = l->c;
	const struct ktl_ring_ops *ops = l->ops;
	void *user = l->user;
	int code = l->ending ? l->end_code : 0;
	bool r_freeing = l->r->free_asked;
	char msg[KTL_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", l->end_msg);
	if (detach(l, false) == 0)
		link_free(l);
	if (code)
		ktl_err_msg(-code, msg);
	if (ops->on_close && !r_freeing)
		ops->on_close(c, user, code);
}

static void flush_link(struct ring_link *l)
{
	if (!l->ending) {
		if (!l->kicked) {
			l->kicked = true;
			ring_rx_kick(l);
		}
		if (l->r->free_asked)
			return; /* its on_data freed the ring */
		if (!l->ending)
			ring_tx_flush(l);
		if (!l->ending)
			ring_rx_arm(l);
		/* The peer's close_notify ends the link once our own queued
		 * sends are out. */
		if (!l->ending && l->c->rd_eof && ring_tx_idle(l)) {
			link_end(l);
			return;
		}
	}
	if (l->ending)
		link_end(l);
}

static void flush_dirty(struct ktl_ring *r)
{
	struct ring_link *l;

	while (!r->free_asked && (l = r->dirty)) {
		r->dirty = l->dnext;
		l->dirty = false;
		flush_link(l);
	}
}

/* ---- setup ---------------------------------------------------------------- */

static int queue_init(struct ktl_ring *r)
{
	/* Newest first: one issuer with task work run at our own wait is the
	 * cheapest; cooperative task work next; then plain. */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int ret = -EINVAL;

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p = { .flags = tries[i] | IORING_SETUP_CQSIZE,
					     .cq_entries = r->entries * 4 };

		ret = io_uring_queue_init_params(r->entries, &r->ring, &p);
		if (ret != -EINVAL)
			break;
	}
	return ret;
}

static int setup_buf_ring(struct ktl_ring *r)
{
	struct io_uring_buf_reg reg = { 0 };
	int ret;

	r->br_bytes = (size_t)r->n_bufs * sizeof(struct io_uring_buf);
	r->br = mmap(NULL, r->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->br == MAP_FAILED) {
		r->br = NULL;
		return -errno;
	}
	r->bufs_bytes = (size_t)r->n_bufs * r->buf_size;
	r->bufs = mmap(NULL, r->bufs_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->bufs == MAP_FAILED) {
		r->bufs = NULL;
		return -errno;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)r->br;
	reg.ring_entries = r->n_bufs;
	reg.bgid = RING_BGID;
	ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (ret < 0)
		return ret;
	io_uring_buf_ring_init(r->br);
	for (unsigned i = 0; i < r->n_bufs; i++)
		io_uring_buf_ring_add(r->br, r->bufs + (size_t)i * r->buf_size, r->buf_size, (unsigned short)i,
				      io_uring_buf_ring_mask(r->n_bufs), (int)i);
	io_uring_buf_ring_advance(r->br, (int)r->n_bufs);
	return 0;
}

static void free_buf_ring(struct ktl_ring *r, bool registered)
{
	if (registered)
		io_uring_unregister_buf_ring(&r->ring, RING_BGID);
	if (r->br)
		munmap(r->br, r->br_bytes);
	if (r->bufs)
		munmap(r->bufs, r->bufs_bytes);
	r->br = NULL;
	r->bufs = NULL;
}

KTL_API int ktl_ring_new(struct ktl_ring **out, const struct ktl_ring_params *params)
{
	struct ktl_ring_params p = params ? *params : (struct ktl_ring_params){ 0 };
	struct io_uring_probe *probe;
	struct ktl_ring *r;
	bool mshot;
	int ret;

	if (!out)
		return ktl_err(EINVAL, "ring: new needs somewhere to put the ring");
	*out = NULL;
	if (p.buf_size && p.buf_size < 4096)
		return ktl_err(EINVAL, "ring: buf_size %u is below 4096", p.buf_size);
	/* One receive is at most a few records; the kernel caps a receive
	 * below 2 GiB anyway, so a larger size fails only later, per link. */
	if (p.buf_size > KTL_RING_BUF_MAX)
		return ktl_err(EINVAL, "ring: buf_size %u is above %u", p.buf_size, KTL_RING_BUF_MAX);
	r = calloc(1, sizeof(*r));
	if (!r)
		return ktl_err(ENOMEM, "ring: out of memory");
	r->entries = p.entries ? p.entries : 256;
	r->buf_size = p.buf_size ? p.buf_size : 65536;
	r->n_bufs = 1;
	while (r->n_bufs < (p.n_bufs ? p.n_bufs : 64) && r->n_bufs < 32768)
		r->n_bufs <<= 1;
	r->flags = p.flags;
	ret = queue_init(r);
	if (ret < 0) {
		free(r);
		return ktl_err(-ret, "ring: io_uring_queue_init(%u): %s", p.entries ? p.entries : 256,
			       strerror(-ret));
	}
	/* io_uring_enter then names the ring by index (5.18), sparing an fd
	 * lookup and reference per call; older kernels refuse and keep the fd. */
	r->ring_fd_registered = io_uring_register_ring_fd(&r->ring) == 1;
	probe = io_uring_get_probe_ring(&r->ring);
	if (!probe || !io_uring_opcode_supported(probe, IORING_OP_SEND) ||
	    !io_uring_opcode_supported(probe, IORING_OP_RECV) ||
	    !io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL)) {
		io_uring_free_probe(probe);
		io_uring_queue_exit(&r->ring);
		free(r);
		return ktl_err(EOPNOTSUPP, "ring: this kernel's io_uring has no socket send/recv (needs 5.6)");
	}
	/* Multishot receive has no opcode of its own; it came with SEND_ZC
	 * (6.0).  A kernel that still refuses it answers -EINVAL, and
	 * ring_rx.c falls back then. */
	mshot = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
	io_uring_free_probe(probe);
	r->mshot_msg.msg_controllen = CMSG_SPACE(sizeof(unsigned char));
	if (mshot && !(r->flags & KTL_RING_SINGLE_SHOT) &&
	    r->buf_size > sizeof(struct io_uring_recvmsg_out) + r->mshot_msg.msg_controllen + 16384) {
		ret = setup_buf_ring(r);
		if (ret == 0)
			r->use_br = true;
		else
			free_buf_ring(r, false);
	}
	*out = r;
	return 0;
}

KTL_API void ktl_ring_free(struct ktl_ring *r)
{
	struct ring_send *s;

	if (!r)
		return;
	/* From a callback the ring is still in use below us: ktl_ring_run
	 * frees it on its way out and runs no further callbacks. */
	if (r->in_run) {
		r->free_asked = true;
		return;
	}
	while (r->links) {
		struct ring_link *l = r->links;

		if (detach(l, !l->ending) == 0) {
			ring_tx_finish(l);
			link_free(l);
		}
	}
	while ((s = r->free_sends)) {
		r->free_sends = s->next;
		free(s);
	}
	free(r->q);
	free(r->map);
	io_uring_queue_exit(&r->ring);
	free_buf_ring(r, false); /* exiting the ring dropped the registration */
	free(r);
}

/* ---- links ---------------------------------------------------------------- */

KTL_API int ktl_ring_add(struct ktl_ring *r, struct ktl_conn *c, const struct ktl_ring_ops *ops, void *user)
{
	struct ring_link *l;

	if (!r || !c || !ops || !ops->on_data)
		return ktl_err(EINVAL, "ring: add needs a ring, a connection and ops with on_data");
	if (r->free_asked)
		return ktl_err(EBADF, "ring: add to a ring being freed");
	if (c->ring == r)
		return ktl_err(EEXIST, "ring: peer %s is already on this ring", c->peer);
	/* Two rings would each take over the GnuTLS transport and race. */
	if (c->ring)
		return ktl_err(EBUSY, "ring: peer %s is already on another ring", c->peer);
	if (c->fatal)
		return ktl_err(-c->fatal, "peer %s: link already failed: %s", c->peer, ktl_strerror(c->fatal));
	if (r->count >= r->map_size && map_grow(r) < 0)
		return ktl_err(ENOMEM, "ring: out of memory");
	l = calloc(1, sizeof(*l));
	if (!l)
		return ktl_err(ENOMEM, "ring: out of memory");
	l->r = r;
	l->c = c;
	l->ops = ops;
	l->user = user;
	l->pipe[0] = l->pipe[1] = -1;
	l->batch = 1;
	unsigned s = map_slot(r, c);

	l->hnext = r->map[s];
	r->map[s] = l;
	l->lnext = r->links;
	if (r->links)
		r->links->lprev = l;
	r->links = l;
	r->count++;
	c->ring = r;
	if (!c->tx_kernel || !c->rx_kernel)
		gnutls_transport_set_ptr(c->s, l);
	ring_rx_attach(l);
	ring_tx_attach(l);
	ring_mark_dirty(l);
	return 0;
}

KTL_API int ktl_ring_remove(struct ktl_ring *r, struct ktl_conn *c)
{
	struct ring_link *l;
	int ret;

	if (!r || !c)
		return ktl_err(EINVAL, "ring: remove needs a ring and a connection");
	l = link_find(r, c);
	if (!l)
		return ktl_err(ENOENT, "ring: peer %s is not on this ring", c->peer);
	if (l->cb_depth)
		return ktl_err(EBUSY, "ring: peer %s cannot be removed from inside its own callback", c->peer);
	ret = detach(l, !l->ending);
	if (ret < 0)
		return ret; /* l stays allocated: the kernel may still use it */
	ret = ring_tx_finish(l);
	link_free(l);
	if (!ret && c->fatal)
		ret = ktl_err(-c->fatal, "peer %s: link failed on the ring: %s", c->peer,
			      ktl_strerror(c->fatal));
	return ret;
}

static struct ring_link *live_link(struct ktl_ring *r, struct ktl_conn *c, int *err)
{
	struct ring_link *l;

	*err = 0;
	if (!r || !c) {
		*err = ktl_err(EINVAL, "ring: needs a ring and a connection, got %s", r ? "no connection" : "no ring");
		return NULL;
	}
	l = link_find(r, c);
	if (!l)
		*err = ktl_err(ENOENT, "ring: peer %s is not on this ring", c->peer);
	else if (c->fatal || l->ending)
		*err = ktl_err(c->fatal ? -c->fatal : EPIPE, "peer %s: link already failed: %s", c->peer,
			       ktl_strerror(c->fatal ? c->fatal : -EPIPE));
	else if (c->wr_shut || (l->tail && l->tail->kind == SEND_BYE))
		*err = ktl_err(EPIPE, "peer %s: send after close_notify", c->peer);
	return *err ? NULL : l;
}

static void queue_send(struct ring_link *l, struct ring_send *s)
{
	if (l->tail)
		l->tail->next = s;
	else
		l->head = s;
	l->tail = s;
	if (!l->cur)
		l->cur = s;
	ring_mark_dirty(l);
}

KTL_API int ktl_ring_send(struct ktl_ring *r, struct ktl_conn *c, const void *buf, size_t len)
{
	struct ring_send *s;
	int err;
	struct ring_link *l = live_link(r, c, &err);

	if (!l)
		return err;
	if (!buf && len)
		return ktl_err(EINVAL, "peer %s: ring send of %zu bytes from a NULL buffer", c->peer, len);
	s = ring_send_alloc(r);
	if (!s)
		return ktl_err(ENOMEM, "ring: out of memory");
	s->kind = SEND_DATA;
	s->buf = buf;
	s->len = len;
	queue_send(l, s);
	return 0;
}

KTL_API int ktl_ring_sendfile(struct ktl_ring *r, struct ktl_conn *c, int file_fd, off_t offset, size_t len)
{
	struct ring_send *s;
	int err;
	struct ring_link *l = live_link(r, c, &err);

	if (!l)
		return err;
	if (!c->tx_kernel)
		return ktl_err(EOPNOTSUPP,
			       "peer %s: ring sendfile needs kernel TLS TX; this link encrypts in user space (%s)",
			       c->peer, c->tx_reason);
	if (file_fd < 0 || offset < 0)
		return ktl_err(EINVAL, "ring sendfile: bad file fd %d or offset %lld", file_fd, (long long)offset);
	s = ring_send_alloc(r);
	if (!s)
		return ktl_err(ENOMEM, "ring: out of memory");
	s->kind = SEND_FILE;
	s->len = len;
	s->file_fd = file_fd;
	s->file_off = offset;
	queue_send(l, s);
	return 0;
}

KTL_API int ktl_ring_shutdown(struct ktl_ring *r, struct ktl_conn *c)
{
	struct ring_link *l = r && c ? link_find(r, c) : NULL;
	struct ring_send *s;
	int err;

	if (l && (c->wr_shut || (l->tail && l->tail->kind == SEND_BYE)))
		return 0;
	l = live_link(r, c, &err);
	if (!l)
		return err;
	s = ring_send_alloc(r);
	if (!s)
		return ktl_err(ENOMEM, "ring: out of memory");
	s->kind = SEND_BYE;
	queue_send(l, s);
	return 0;
}

KTL_API int ktl_ring_run(struct ktl_ring *r, int timeout_ms)
{
	int handled = 0, ret = 0;

	if (!r)
		return ktl_err(EINVAL, "ring: run needs a ring");
	if (r->in_run)
		return ktl_err(EBUSY, "ring: ktl_ring_run called from inside a ring callback");
	r->in_run = true;
	/* Any callback below may ask for ktl_ring_free: from then on nothing
	 * is armed or waited for, and the ring goes on the way out. */
	flush_dirty(r);
	if (r->free_asked)
		goto out;
	if (r->q_head == r->q_len) {
		if (!r->inflight && !io_uring_sq_ready(&r->ring))
			goto out;
		/* Completions already there (a send the kernel finished
		 * inline) need no trip into the kernel. */
		if (!io_uring_cq_ready(&r->ring) || io_uring_sq_ready(&r->ring))
			ret = submit(r, io_uring_cq_ready(&r->ring) ? 0 : 1, timeout_ms);
	} else if (io_uring_sq_ready(&r->ring)) {
		ret = submit(r, 0, 0);
	}
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
		handled = ktl_err(-ret, "ring: io_uring_enter: %s", strerror(-ret));
		goto out;
	}
	reap(r);
	/* After a ktl_ring_free from a callback the rest is still handled:
	 * received data goes to the links' carry buffers, no callbacks. */
	while (r->q_head < r->q_len) {
		struct ring_cqe e = r->q[r->q_head++];

		if (e.ud == OP_IGNORE)
			continue;
		dispatch(r, &e);
		handled++;
	}
	r->q_head = r->q_len = 0;
	/* Callbacks queued sends and completions freed buffers: prepare the
	 * next batch now; the next run submits it in one go. */
	flush_dirty(r);
out:
	r->in_run = false;
	/* Links are detached as ktl_ring_free promises: queued sends are
	 * written out, received data stays for ktl_recv. */
	if (r->free_asked)
		ktl_ring_free(r);
	return handled;
}

KTL_API unsigned ktl_ring_count(const struct ktl_ring *r)
{
	return r ? r->count : 0;
}

KTL_API void ktl_ring_get_stats(const struct ktl_ring *r, struct ktl_ring_stats *out)
{
	if (!out)
		return;
	if (!r) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = r->st;
	out->recv_multishot = r->use_br;
	out->buf_ring = r->use_br;
	out->registered_ring = r->ring_fd_registered;
}
