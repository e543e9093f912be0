/* SPDX-License-Identifier: MIT */
/* Sending on the ring.  kTLS TX: the caller's buffer goes to IORING_OP_SEND
 * as is (no SEND_ZC: the kernel refuses zero-copy on any ULP socket), files
 * are spliced through a pipe.  User-space TX: GnuTLS encrypts through our
 * push function into one of two ciphertext buffers while the other is in
 * flight.  While the kernel takes SENDs inline, each record goes out as
 * soon as it is made; while one waits for room, the other buffer fills
 * with up to eight records for the next SEND.
 *
 * Only one SEND or SPLICE is in flight per link: a stream socket must see
 * the bytes in order, and a buffer is never touched again before its CQE. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ring_int.h"

struct ring_send *ring_send_alloc(struct ktl_ring *r)
{
	struct ring_send *s = r->free_sends;

	if (s)
		r->free_sends = s->next;
	else
		s = malloc(sizeof(*s));
	if (s)
		memset(s, 0, sizeof(*s));
	return s;
}

void ring_send_free(struct ktl_ring *r, struct ring_send *s)
{
	s->next = r->free_sends;
	r->free_sends = s;
}

static struct ring_send *pop_head(struct ring_link *l)
{
	struct ring_send *s = l->head;

	l->head = s->next;
	if (!l->head)
		l->tail = NULL;
	if (l->cur == s)
		l->cur = s->next;
	return s;
}

static void call_sent(struct ring_link *l, size_t len)
{
	if (!l->ops->on_sent || l->r->free_asked)
		return;
	l->cb_depth++;
	l->ops->on_sent(l->c, l->user, len);
	l->cb_depth--;
}

/* ---- GnuTLS transport ------------------------------------------------------ */

static int ensure_out(struct ring_link *l)
{
	for (int i = 0; i < 2; i++) {
		if (!l->out[i].p && !(l->out[i].p = malloc(RING_OUT_CAP)))
			return -ENOMEM;
	}
	return 0;
}

/* Ciphertext from GnuTLS lands in the fill buffer, never in the one the
 * kernel is sending from. */
static ssize_t ring_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct ring_link *l = p;
	struct ring_out *o = &l->out[l->fill];
	size_t done = 0;

	if (ensure_out(l) < 0) {
		gnutls_transport_set_errno(l->c->s, ENOMEM);
		return -1;
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t room = RING_OUT_CAP - o->len;
		size_t n = iov[i].iov_len < room ? iov[i].iov_len : room;

		memcpy(o->p + o->len, iov[i].iov_base, n);
		o->len += n;
		done += n;
		if (n < iov[i].iov_len)
			break;
	}
	if (!done) {
		gnutls_transport_set_errno(l->c->s, EAGAIN);
		return -1;
	}
	l->ct_total += done;
	return (ssize_t)done;
}

/* What GnuTLS's own socket transport does, for a session back off the ring
 * (GnuTLS has no call that reinstates its built-in functions). */
static ssize_t fd_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };

	return sendmsg((int)(intptr_t)p, &m, MSG_NOSIGNAL);
}

void ring_tx_attach(struct ring_link *l)
{
	if (!l->c->tx_kernel)
		gnutls_transport_set_vec_push_function(l->c->s, ring_push);
}

void ring_tx_restore(struct ring_link *l)
{
	if (!l->c->tx_kernel)
		gnutls_transport_set_vec_push_function(l->c->s, fd_push);
}

/* ---- completion accounting ------------------------------------------------- */

static int send_error(struct ring_link *l, int e)
{
	struct ktl_conn *c = l->c;

	if (c->tx_kernel && e == EBADMSG)
		return ring_link_fail(l, ktl_err(KTL_E_BAD_RECORD, "peer %s: kernel TLS refused to send (%s)",
						 c->peer, strerror(e)));
	return ring_link_fail(l, ktl_err(e, "peer %s: send%s: %s", c->peer,
					 c->tx_kernel ? " through kernel TLS" : "", strerror(e)));
}

void ring_tx_complete(struct ring_link *l, enum ring_op op, int res)
{
	struct ktl_conn *c = l->c;
	struct ring_send *s = l->head;

	l->tx_busy = l->tx_inline = false;
	if (res == -ECANCELED)
		return;
	if (!c->tx_kernel) {
		struct ring_out *o = &l->out[l->fill ^ 1];

		if (res < 0) {
			if (!l->detaching)
				send_error(l, -res);
			return;
		}
		o->sent += (size_t)res;
		l->ct_sent += (uint64_t)res;
		if (o->sent < o->len)
			l->r->st.short_sends++;
		else
			o->len = o->sent = 0;
		return;
	}
	if (res < 0) {
		if (op == OP_SPLICE_IN && !l->detaching)
			ring_link_fail(l, ktl_err(-res, "peer %s: sendfile: reading the file: %s", c->peer,
						  strerror(-res)));
		else if (!l->detaching)
			send_error(l, -res);
		return;
	}
	switch (op) {
	case OP_SEND:
		/* One SEND or SENDMSG covers the queue from its head on. */
		if ((size_t)res < l->tx_req)
			l->r->st.short_sends++;
		for (size_t left = (size_t)res; left && s; s = s->next) {
			size_t take = s->len - s->off < left ? s->len - s->off : left;

			s->off += take;
			left -= take;
		}
		break;
	case OP_SPLICE_IN:
		if (res == 0)
			s->len = s->off; /* end of file: report the short count */
		l->pipe_fill = (size_t)res;
		break;
	case OP_SPLICE_OUT:
		l->pipe_fill -= (size_t)res;
		s->off += (size_t)res;
		if (l->pipe_fill)
			l->r->st.short_sends++;
		break;
	default:
		break;
	}
}

/* ---- issuing ---------------------------------------------------------------- */

static int prep(struct ring_link *l, struct io_uring_sqe **sqe)
{
	*sqe = ring_sqe(l->r);
	if (!*sqe)
		return ring_link_fail(l, ktl_err(EBUSY, "ring: no submission queue entry for peer %s",
						 l->c->peer));
	return 0;
}

static int pipe_open(struct ring_link *l)
{
	int cap;

	if (l->pipe[0] >= 0)
		return 0;
	if (pipe2(l->pipe, O_CLOEXEC) < 0)
		return ring_link_fail(l, ktl_err(errno, "peer %s: sendfile: pipe: %s", l->c->peer,
						 strerror(errno)));
	/* A bigger pipe means fewer splice round trips; the default is fine
	 * where the limit refuses it. */
	fcntl(l->pipe[1], F_SETPIPE_SZ, 1 << 20);
	cap = fcntl(l->pipe[1], F_GETPIPE_SZ);
	l->pipe_cap = cap > 0 ? (size_t)cap : 65536;
	return 0;
}

/* The kernel cuts records at the end of each send call, so sends queued
 * back to back go out in one SENDMSG: full records, one syscall. */
static void ktls_prep_send(struct ring_link *l, struct io_uring_sqe *sqe, struct ring_send *s)
{
	unsigned n = 0;

	l->tx_req = 0;
	for (; s && s->kind == SEND_DATA && n < RING_TX_IOV_MAX && l->tx_req < RING_TX_BATCH_MAX;
	     s = s->next) {
		l->tx_iov[n++] = (struct iovec){ (void *)(s->buf + s->off), s->len - s->off };
		l->tx_req += s->len - s->off;
	}
	if (n == 1) {
		io_uring_prep_send(sqe, l->c->fd, l->tx_iov[0].iov_base, l->tx_req, MSG_NOSIGNAL);
		return;
	}
	l->r->st.batched_sends++;
	l->tx_msg = (struct msghdr){ .msg_iov = l->tx_iov, .msg_iovlen = n };
	io_uring_prep_sendmsg(sqe, l->c->fd, &l->tx_msg, MSG_NOSIGNAL);
}

static int ktls_flush(struct ring_link *l)
{
	struct ktl_conn *c = l->c;
	struct io_uring_sqe *sqe;
	struct ring_send *s;
	int ret;

	while (!l->tx_busy && (s = l->head)) {
		if (s->kind == SEND_BYE) {
			ret = ktl_ktls_send_close_notify(c);
			if (ret < 0)
				return ring_link_fail(l, ret);
			c->wr_shut = true;
			shutdown(c->fd, SHUT_WR);
			ring_send_free(l->r, pop_head(l));
			continue;
		}
		if (s->kind == SEND_FILE && l->pipe_fill) {
			if ((ret = prep(l, &sqe)) < 0)
				return ret;
			/* MORE lets the kernel fill whole records across chunks;
			 * the last chunk goes without it so the record is pushed. */
			io_uring_prep_splice(sqe, l->pipe[0], -1, c->fd, -1, (unsigned)l->pipe_fill,
					     s->off + l->pipe_fill < s->len ? SPLICE_F_MORE : 0);
			ring_op_start(l, sqe, OP_SPLICE_OUT);
			l->tx_busy = true;
			break;
		}
		if (s->off == s->len) {
			size_t len = s->len;

			ring_send_free(l->r, pop_head(l));
			call_sent(l, len);
			if (l->ending || l->detaching)
				return 0;
			continue;
		}
		if (s->kind == SEND_FILE && (ret = pipe_open(l)) < 0)
			return ret;
		if ((ret = prep(l, &sqe)) < 0)
			return ret;
		if (s->kind == SEND_DATA) {
			ktls_prep_send(l, sqe, s);
			ring_op_start(l, sqe, OP_SEND);
		} else {
			size_t want = s->len - s->off;

			if (want > l->pipe_cap)
				want = l->pipe_cap;
			io_uring_prep_splice(sqe, s->file_fd, s->file_off + (off_t)s->off, l->pipe[1], -1,
					     (unsigned)want, 0);
			ring_op_start(l, sqe, OP_SPLICE_IN);
		}
		l->tx_busy = true;
	}
	return 0;
}

/* Encrypts queued sends while the fill buffer has room for a whole record,
 * so the push function never has to refuse GnuTLS mid-record.  soon: the
 * wire is idle, so stop at l->batch records' worth (small records still go
 * out together). */
static int encrypt(struct ring_link *l, bool soon)
{
	struct ktl_conn *c = l->c;
	struct ring_send *s;

	if (ensure_out(l) < 0)
		return ring_link_fail(l, ktl_err(ENOMEM, "ring: out of memory"));
	while ((s = l->cur)) {
		struct ring_out *o = &l->out[l->fill];
		ssize_t n;

		if (s->kind == SEND_DATA && s->off == s->len) {
			s->ct_end = l->ct_total;
			l->cur = s->next;
			continue;
		}
		if (RING_OUT_CAP - o->len < RING_RECORD_MAX || (soon && o->len >= l->batch * RING_PT_CAP))
			break;
		if (s->kind == SEND_BYE) {
			n = gnutls_bye(c->s, GNUTLS_SHUT_WR);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				break;
			if (n < 0)
				return ring_link_fail(l, ktl_conn_fail(c, (int)n, "while sending close_notify"));
			c->wr_shut = true;
			s->ct_end = l->ct_total;
			l->cur = s->next;
			continue;
		}
		/* After GNUTLS_E_AGAIN GnuTLS wants the very same call again. */
		size_t want = l->again_len ? l->again_len : s->len - s->off;

		if (want > RING_PT_CAP)
			want = RING_PT_CAP;
		n = gnutls_record_send(c->s, s->buf + s->off, want);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			l->again_len = want;
			break;
		}
		l->again_len = 0;
		if (n < 0)
			return ring_link_fail(l, ktl_conn_fail(c, (int)n, "while sending"));
		s->off += (size_t)n;
	}
	return 0;
}

static int user_flush(struct ring_link *l)
{
	struct ktl_ring *r = l->r;
	struct ring_send *s;
	int ret;
	/* With the wire idle and nothing else for the ring to do, what is
	 * encrypted goes out at once: a message sent alone leaves after one
	 * record's work.  A stream doubles the batch per SEND up to a full
	 * buffer: each SEND wakes the reader once, and that wake-up costs the
	 * sender more than the reader's wait between batches costs the link.
	 * With other links busy, batches go out together in one submit. */
	bool soon = l->tx_inline || (!l->tx_busy && !r->dirty && !io_uring_cq_ready(&r->ring));

	if (l->cur && (ret = encrypt(l, soon)) < 0)
		return ret;
	if (!l->tx_busy && (l->out[l->fill ^ 1].len || l->out[l->fill].len)) {
		struct io_uring_sqe *sqe;
		struct ring_out *o;

		if ((ret = prep(l, &sqe)) < 0)
			return ret;
		/* The rest of a short send goes before anything newer. */
		if (!l->out[l->fill ^ 1].len)
			l->fill ^= 1;
		o = &l->out[l->fill ^ 1];
		io_uring_prep_send(sqe, l->c->fd, o->p + o->sent, o->len - o->sent, MSG_NOSIGNAL);
		ring_op_start(l, sqe, OP_SEND);
		l->tx_busy = true;
		/* Submitted at once.  If the kernel took it inline the wire
		 * is idle again and the next record waits for that CQE; if
		 * the socket is full, the other buffer fills meanwhile. */
		l->batch = l->cur ? (l->batch * 2 > RING_OUT_RECORDS ? RING_OUT_RECORDS : l->batch * 2) : 1;
		if (soon)
			l->tx_inline = ring_submit_now(l, OP_SEND);
		if (soon && !l->tx_inline && l->cur && (ret = encrypt(l, false)) < 0)
			return ret;
	}
	/* A send is finished once the ciphertext of its last byte is out. */
	while ((s = l->head) && s != l->cur && s->ct_end <= l->ct_sent) {
		enum send_kind kind = s->kind;
		size_t len = s->len;

		ring_send_free(l->r, pop_head(l));
		if (kind == SEND_BYE) {
			/* The FIN tells a reader that nothing else follows. */
			shutdown(l->c->fd, SHUT_WR);
			continue;
		}
		call_sent(l, len);
		if (l->ending || l->detaching)
			return 0;
	}
	return 0;
}

int ring_tx_flush(struct ring_link *l)
{
	if (l->c->tx_kernel)
		return ktls_flush(l);
	return user_flush(l);
}

bool ring_tx_idle(const struct ring_link *l)
{
	return !l->head && !l->tx_busy && !l->out[0].len && !l->out[1].len && !l->pipe_fill;
}

/* ---- leaving the ring --------------------------------------------------------- */

static int write_all(struct ring_link *l, const unsigned char *p, size_t len)
{
	struct ktl_conn *c = l->c;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = { .fd = c->fd, .events = POLLOUT };

			poll(&pf, 1, -1);
			continue;
		}
		if (n < 0) {
			int e = errno;

			if (!c->fatal)
				c->fatal = -e;
			return ktl_err(e, "peer %s: send: %s", c->peer, strerror(e));
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* With the session back on its socket: out goes, in order, the ciphertext
 * the ring held, then every send still queued, as ktl_send would. */
int ring_tx_finish(struct ring_link *l)
{
	struct ktl_conn *c = l->c;
	struct ring_send *s;
	bool fin = false;
	int ret = 0;

	if (c->fatal)
		goto out;
	if (!c->tx_kernel) {
		for (int k = 1; k >= 0 && !ret; k--) {
			struct ring_out *o = &l->out[l->fill ^ k];

			if (o->len > o->sent)
				ret = write_all(l, o->p + o->sent, o->len - o->sent);
			o->len = o->sent = 0;
		}
		for (s = l->head; s && s != l->cur; s = s->next)
			fin |= s->kind == SEND_BYE;
		if (!ret && fin)
			shutdown(c->fd, SHUT_WR);
		if (!ret && l->again_len) {
			ssize_t n;

			do {
				n = gnutls_record_send(c->s, l->cur->buf + l->cur->off, l->again_len);
			} while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
			if (n < 0)
				ret = ktl_conn_fail(c, (int)n, "while sending");
			else
				l->cur->off += (size_t)n;
			l->again_len = 0;
		}
		s = l->cur;
	} else {
		while (!ret && l->pipe_fill) {
			ssize_t n = splice(l->pipe[0], NULL, c->fd, NULL, l->pipe_fill, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				ret = ktl_err(n < 0 ? errno : EIO, "peer %s: sendfile: %s", c->peer,
					      strerror(n < 0 ? errno : EIO));
			else {
				l->pipe_fill -= (size_t)n;
				l->head->off += (size_t)n;
			}
		}
		s = l->head;
	}
	for (; s && !ret; s = s->next) {
		ssize_t n = 0;

		if (s->kind == SEND_DATA && s->off < s->len)
			n = ktl_send(c, s->buf + s->off, s->len - s->off);
		else if (s->kind == SEND_FILE && s->off < s->len) {
			off_t off = s->file_off + (off_t)s->off;

			n = ktl_sendfile(c, s->file_fd, &off, s->len - s->off);
		} else if (s->kind == SEND_BYE)
			n = ktl_shutdown(c);
		if (n < 0)
			ret = (int)n;
	}
out:
	while (l->head)
		ring_send_free(l->r, pop_head(l));
	return ret;
}

void ring_tx_release(struct ring_link *l)
{
	while (l->head)
		ring_send_free(l->r, pop_head(l));
	free(l->out[0].p);
	free(l->out[1].p);
	l->out[0].p = l->out[1].p = NULL;
	if (l->pipe[0] >= 0) {
		close(l->pipe[0]);
		close(l->pipe[1]);
		l->pipe[0] = l->pipe[1] = -1;
	}
}
