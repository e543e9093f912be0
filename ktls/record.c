/* SPDX-License-Identifier: MIT */
/* Record I/O on a kTLS socket: application data, and the control records
 * (alerts, post-handshake messages) the kernel hands up untouched. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "ktls_int.h"

#define HS_KEY_UPDATE 24

ssize_t ktl_record_recv(int fd, void *buf, size_t len, int flags, unsigned char *type)
{
	/* Always room for the record-type cmsg: without it the kernel fails a
	 * control record with EIO and leaves it queued forever. */
	union {
		char buf[CMSG_SPACE(sizeof(unsigned char))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			    .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *cm;
	ssize_t n;

	*type = 0;
	n = recvmsg(fd, &m, flags);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cm);
	return n;
}

ssize_t ktl_record_send(int fd, const void *buf, size_t len, unsigned char type)
{
	union {
		char buf[CMSG_SPACE(sizeof(unsigned char))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			    .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	ssize_t n;

	memset(&cbuf, 0, sizeof(cbuf));
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cm) = type;
	do {
		n = sendmsg(fd, &m, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;

	do {
		r = poll(&p, 1, -1);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static ssize_t fail(struct ktl_conn *c, int ret)
{
	if (!c->fatal)
		c->fatal = ret;
	return ret;
}

ssize_t ktl_ktls_send(struct ktl_conn *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(c->fd, p + done, len - done, MSG_NOSIGNAL);

		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int r = wait_fd(c->fd, POLLOUT);

			if (r < 0)
				return ktl_err(-r, "peer %s: poll: %s", c->peer, strerror(-r));
			continue;
		}
		if (errno == EBADMSG)
			return fail(c, ktl_err(KTL_E_BAD_RECORD, "peer %s: kernel TLS refused to send (%s)",
					       c->peer, strerror(errno)));
		return fail(c, ktl_err(errno, "peer %s: send through kernel TLS: %s", c->peer, strerror(errno)));
	}
	return (ssize_t)len;
}

int ktl_ktls_send_close_notify(struct ktl_conn *c)
{
	static const unsigned char close_notify[2] = { 1 /* warning */, 0 /* close_notify */ };
	ssize_t n = ktl_record_send(c->fd, close_notify, sizeof(close_notify), KTL_CT_ALERT);

	if (n == (ssize_t)sizeof(close_notify))
		return 0;
	if (n >= 0)
		n = -EIO;
	return ktl_err((int)-n, "peer %s: sending close_notify through kernel TLS: %s", c->peer,
		       strerror((int)-n));
}

/* 1: keep reading, <0: the link ends with that code. */
static int eat_handshake(struct ktl_conn *c, struct ktl_ctl_state *st, const unsigned char *p, size_t n)
{
	while (n) {
		if (st->hs_skip) {
			size_t k = n < st->hs_skip ? n : st->hs_skip;

			st->hs_skip -= k;
			p += k;
			n -= k;
			continue;
		}
		st->hs_hdr[st->hs_hdr_len++] = *p++;
		n--;
		if (st->hs_hdr_len < 4)
			continue;
		st->hs_hdr_len = 0;
		st->hs_skip = ((size_t)st->hs_hdr[1] << 16) | ((size_t)st->hs_hdr[2] << 8) | st->hs_hdr[3];
		/* The kernel would go on decrypting with the old key and hand
		 * out authentication failures; stop cleanly here instead.  (A
		 * kernel that can rekey, 6.14+, is not used for this yet.) */
		if (st->hs_hdr[0] == HS_KEY_UPDATE)
			return ktl_err(KTL_E_KEY_UPDATE,
				       "peer %s sent a TLS 1.3 KeyUpdate; kernel TLS RX cannot take new keys on "
				       "this kernel, closing the link",
				       c->peer);
		/* NewSessionTicket and anything else: ktlink does not resume
		 * sessions or renegotiate, so the message is dropped. */
	}
	return 1;
}

/* 0: close_notify, 1: keep reading, <0: an alert that ends the link. */
static int eat_alert(struct ktl_conn *c, struct ktl_ctl_state *st, const unsigned char *p, size_t n)
{
	while (n--) {
		st->alert[st->alert_len++] = *p++;
		if (st->alert_len < 2)
			continue;
		st->alert_len = 0;
		if (st->alert[1] == GNUTLS_A_CLOSE_NOTIFY) {
			c->rd_eof = true;
			return 0;
		}
		if (st->alert[0] == GNUTLS_AL_WARNING && st->alert[1] == GNUTLS_A_USER_CANCELED)
			continue;
		/* A TLS 1.3 server verifies the client after the client's
		 * handshake is over, so its verdict may first show up here. */
		return ktl_conn_alert(c, st->alert[1], "while receiving");
	}
	return 1;
}

int ktl_ktls_ctl_feed(struct ktl_conn *c, struct ktl_ctl_state *st, unsigned type, const unsigned char *p,
		      size_t n)
{
	switch (type) {
	case KTL_CT_ALERT:
		return eat_alert(c, st, p, n);
	case KTL_CT_HANDSHAKE:
		return eat_handshake(c, st, p, n);
	default:
		return ktl_err(KTL_E_BAD_RECORD, "peer %s sent an unexpected record (type %u)", c->peer, type);
	}
}

int ktl_ktls_rx_code(struct ktl_conn *c, int e)
{
	switch (e) {
	case EBADMSG:
		return ktl_err(KTL_E_BAD_RECORD, "peer %s: record failed authentication (kernel TLS: %s)", c->peer,
			       strerror(e));
	case EMSGSIZE:
	case EINVAL:
		return ktl_err(KTL_E_BAD_RECORD, "peer %s: malformed TLS record (kernel TLS: %s)", c->peer,
			       strerror(e));
	case EKEYEXPIRED:
		return ktl_err(KTL_E_KEY_UPDATE, "peer %s updated its keys; kernel TLS RX paused", c->peer);
	default:
		return ktl_err(e, "peer %s: receive through kernel TLS: %s", c->peer, strerror(e));
	}
}

ssize_t ktl_ktls_recv(struct ktl_conn *c, void *buf, size_t len)
{
	struct ktl_ctl_state st = { 0 };

	for (;;) {
		unsigned char type;
		ssize_t n = ktl_record_recv(c->fd, buf, len, 0, &type);
		int r;

		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			r = wait_fd(c->fd, POLLIN);
			if (r < 0)
				return ktl_err(-r, "peer %s: poll: %s", c->peer, strerror(-r));
			continue;
		}
		if (n < 0)
			return fail(c, ktl_ktls_rx_code(c, (int)-n));
		if (n == 0 && type == 0)
			return fail(c, ktl_err(KTL_E_TRUNCATED,
					       "peer %s closed the connection without close_notify (truncated)",
					       c->peer));
		if (type == KTL_CT_DATA) {
			if (n == 0)
				continue;      /* TLS 1.3 allows empty data records */
			return n;
		}
		r = ktl_ktls_ctl_feed(c, &st, type, buf, (size_t)n);
		if (r < 0)
			r = (int)fail(c, r);
		/* The user's buffer held control bytes; never leave them there. */
		memset(buf, 0, (size_t)n);
		if (r <= 0)
			return r;
	}
}
