/* SPDX-License-Identifier: MIT */
/* Receiving on the ring.  Where the kernel has them, one provided-buffer
 * ring is shared by all links and each link keeps one multishot receive
 * armed; otherwise each link owns one buffer and one single-shot receive.
 *
 * kTLS RX links use RECVMSG with room for the record-type cmsg (a plain
 * RECV fails with -EIO at a control record) and get plaintext, handed to
 * on_data straight from the buffer.  User-space RX links get ciphertext,
 * which GnuTLS pulls through ring_pull and decrypts into its own buffer.
 *
 * A buffer goes back to the kernel only after on_data returned and GnuTLS
 * has copied out every byte of it. */
#include <errno.h>
#include <gnutls/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ring_int.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TLS_GET_RECORD_TYPE
#define TLS_GET_RECORD_TYPE 2
#endif

enum { CT_ALERT = 21, CT_HANDSHAKE = 22, CT_DATA = 23 };
#define HS_KEY_UPDATE 24

/* ---- GnuTLS transport ------------------------------------------------------ */

static ssize_t ring_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct ring_link *l = p;
	size_t n = l->rx_len - l->rx_off;

	/* Ciphertext io.c read ahead before the link joined the ring. */
	if (l->c->rx_cbuf_off < l->c->rx_cbuf_len)
		return (ssize_t)ktl_io_take_cbuf(l->c, buf, len);
	if (!n) {
		gnutls_transport_set_errno(l->c->s, EAGAIN);
		return -1;
	}
	if (n > len)
		n = len;
	memcpy(buf, l->rx_src + l->rx_off, n);
	l->rx_off += n;
	return (ssize_t)n;
}

static int ring_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	struct ring_link *l = p;

	return l->rx_off < l->rx_len || l->c->rx_cbuf_off < l->c->rx_cbuf_len;
}

void ring_rx_attach(struct ring_link *l)
{
	if (l->c->rx_kernel)
		return;
	gnutls_transport_set_pull_function(l->c->s, ring_pull);
	gnutls_transport_set_pull_timeout_function(l->c->s, ring_pull_timeout);
}

void ring_rx_restore(struct ring_link *l)
{
	if (l->c->rx_kernel)
		return;
	ktl_io_user_transport(l->c);
}

/* ---- plaintext out ------------------------------------------------------------- */

/* While a link is taken off the ring, plaintext is kept for ktl_recv. */
static int carry_append(struct ktl_conn *c, const void *p, size_t n)
{
	size_t have = c->rx_carry_len - c->rx_carry_off;
	unsigned char *nb = malloc(have + n);

	if (!nb)
		return -ENOMEM;
	if (have)
		memcpy(nb, c->rx_carry + c->rx_carry_off, have);
	memcpy(nb + have, p, n);
	free(c->rx_carry);
	c->rx_carry = nb;
	c->rx_carry_off = 0;
	c->rx_carry_len = have + n;
	return 0;
}

static void deliver(struct ring_link *l, const void *p, size_t n)
{
	/* Off the ring, or the ring freed from a callback: what arrived is
	 * kept for ktl_recv, as ktl_ring_remove promises. */
	if (l->detaching || l->r->free_asked) {
		if ((l->absorb || !l->detaching) && carry_append(l->c, p, n) < 0)
			ring_link_fail(l, ktl_err(ENOMEM, "peer %s: out of memory keeping received data",
						  l->c->peer));
		return;
	}
	if (l->ending)
		return;
	l->cb_depth++;
	l->ops->on_data(l->c, l->user, p, n);
	l->cb_depth--;
}

static bool taking(const struct ring_link *l)
{
	return !l->c->rd_eof && !l->c->fatal && (!l->detaching || l->absorb) && !l->ending;
}

/* ---- user-space records ------------------------------------------------------- */

/* Decrypts every complete record in p; a partial one stays inside GnuTLS
 * (its pull got EAGAIN) and completes with the next buffer.  on_data gets
 * the plaintext where GnuTLS decrypted it (no copy out). */
static void feed(struct ring_link *l, const unsigned char *p, size_t n)
{
	struct ktl_conn *c = l->c;

	l->rx_src = p;
	l->rx_len = n;
	l->rx_off = 0;
	while (taking(l)) {
		size_t before = l->rx_off;
		gnutls_packet_t pkt = NULL;
		ssize_t m = gnutls_record_recv_packet(c->s, &pkt);

		if (m > 0) {
			gnutls_datum_t d;

			gnutls_packet_get(pkt, &d, NULL);
			deliver(l, d.data, d.size);
			gnutls_packet_deinit(pkt);
			continue;
		}
		if (pkt)
			gnutls_packet_deinit(pkt);
		if (m == 0) {
			c->rd_eof = true;
			break;
		}
		if (m == GNUTLS_E_AGAIN || m == GNUTLS_E_INTERRUPTED) {
			if (l->rx_off < l->rx_len && l->rx_off != before)
				continue; /* our push was full while answering the peer */
			break;
		}
		if (m == GNUTLS_E_REHANDSHAKE) {
			/* TLS 1.2 renegotiation would change keys under us. */
			gnutls_alert_send(c->s, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
			ring_mark_dirty(l);
			continue;
		}
		ring_link_fail(l, ktl_conn_fail(c, (int)m, "while receiving"));
		break;
	}
	l->rx_src = NULL;
	l->rx_len = l->rx_off = 0;
}

/* ---- kernel records ------------------------------------------------------------- */

static int rx_error(struct ring_link *l, int e)
{
	if (!l->c->rx_kernel)
		return ktl_err(e, "peer %s: receive: %s", l->c->peer, strerror(e));
	return ktl_ktls_rx_code(l->c, e);
}

static int truncated(struct ring_link *l)
{
	return ktl_err(KTL_E_TRUNCATED, "peer %s closed the connection without close_notify (truncated)",
		       l->c->peer);
}

/* One record (or part of one) from a kTLS socket, type 0 when the kernel
 * gave no record-type cmsg. */
static void ktls_record(struct ring_link *l, unsigned type, const unsigned char *p, size_t n)
{
	int r;

	if (!taking(l))
		return;
	if (n == 0 && type == 0) {
		ring_link_fail(l, truncated(l));
		return;
	}
	if (type == CT_DATA) {
		memset(&l->ctl, 0, sizeof(l->ctl));
		if (n)
			deliver(l, p, n);
		return;
	}
	r = ktl_ktls_ctl_feed(l->c, &l->ctl, type, p, n);
	if (r < 0)
		ring_link_fail(l, r);
}

static unsigned cmsg_type(struct msghdr *m)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			return *CMSG_DATA(cm);
	return 0;
}

static void ktls_multishot(struct ring_link *l, unsigned char *buf, int res)
{
	struct msghdr *tmpl = &l->r->mshot_msg;
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, res, tmpl);
	unsigned type = 0;

	if (!o || (o->flags & MSG_CTRUNC)) {
		if (taking(l))
			ring_link_fail(l, ktl_err(KTL_E_BAD_RECORD, "peer %s: record type lost (control data "
								    "truncated)", l->c->peer));
		return;
	}
	for (struct cmsghdr *cm = io_uring_recvmsg_cmsg_firsthdr(o, tmpl); cm;
	     cm = io_uring_recvmsg_cmsg_nexthdr(o, tmpl, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			type = *CMSG_DATA(cm);
	ktls_record(l, type, io_uring_recvmsg_payload(o, tmpl), o->payloadlen);
}

/* ---- completions and arming --------------------------------------------------------- */

void ring_rx_complete(struct ring_link *l, int res, uint32_t flags)
{
	struct ktl_ring *r = l->r;
	struct ktl_conn *c = l->c;
	bool shared = flags & IORING_CQE_F_BUFFER;
	unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
	unsigned char *buf = shared ? r->bufs + (size_t)bid * r->buf_size : l->inbuf;

	if (flags & IORING_CQE_F_MORE)
		r->mshot_seen = true;
	else
		l->rx_armed = false;
	if (res < 0) {
		if (res == -ECANCELED || res == -ENOBUFS || res == -EINTR || res == -EAGAIN)
			return; /* re-armed by the next flush while the link lives */
		if (res == -EINVAL && r->use_br && !r->mshot_seen) {
			/* Provided buffers but no multishot: per-link buffers. */
			r->use_br = false;
			return;
		}
		if (taking(l))
			ring_link_fail(l, rx_error(l, -res));
		return;
	}
	if (c->rx_kernel) {
		if (shared)
			ktls_multishot(l, buf, res);
		else
			ktls_record(l, cmsg_type(&l->msg), buf, (size_t)res);
	} else if (res > 0) {
		feed(l, buf, (size_t)res);
	} else if (taking(l) && !l->detaching) {
		ring_link_fail(l, truncated(l));
	}
	if (shared)
		ring_recycle(r, bid);
}

/* Plaintext the conn held before it joined (rx_carry, or records GnuTLS
 * had decrypted but not handed out) comes before anything the ring reads. */
void ring_rx_kick(struct ring_link *l)
{
	struct ktl_conn *c = l->c;

	if (c->rx_carry_off < c->rx_carry_len) {
		size_t off = c->rx_carry_off, len = c->rx_carry_len;

		c->rx_carry_off = len;
		deliver(l, c->rx_carry + off, len - off);
	}
	if (!c->rx_kernel && taking(l))
		feed(l, NULL, 0);
}

void ring_rx_arm(struct ring_link *l)
{
	struct ktl_ring *r = l->r;
	struct ktl_conn *c = l->c;
	struct io_uring_sqe *sqe;

	if (l->rx_armed || !taking(l) || l->detaching)
		return;
	if (!r->use_br && !l->inbuf && !(l->inbuf = malloc(r->buf_size))) {
		ring_link_fail(l, ktl_err(ENOMEM, "ring: out of memory"));
		return;
	}
	sqe = ring_sqe(r);
	if (!sqe) {
		ring_link_fail(l, ktl_err(EBUSY, "ring: no submission queue entry for peer %s", c->peer));
		return;
	}
	if (r->use_br) {
		if (c->rx_kernel)
			io_uring_prep_recvmsg_multishot(sqe, c->fd, &r->mshot_msg, 0);
		else
			io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = RING_BGID;
	} else if (c->rx_kernel) {
		l->iov = (struct iovec){ l->inbuf, r->buf_size };
		l->msg = (struct msghdr){ .msg_iov = &l->iov, .msg_iovlen = 1, .msg_control = l->cbuf.buf,
					  .msg_controllen = sizeof(l->cbuf.buf) };
		io_uring_prep_recvmsg(sqe, c->fd, &l->msg, 0);
	} else {
		io_uring_prep_recv(sqe, c->fd, l->inbuf, r->buf_size, 0);
	}
	ring_op_start(l, sqe, OP_RECV);
	l->rx_armed = true;
}

void ring_rx_release(struct ring_link *l)
{
	free(l->inbuf);
	l->inbuf = NULL;
}
