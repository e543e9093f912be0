/* SPDX-License-Identifier: MIT */
/* Application data after the handshake: each direction goes through the
 * kernel or through GnuTLS, whichever ktls/ settled on. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* A link that failed stays failed: later calls report the first error
 * rather than acting on a session in an unknown state. */
static ssize_t failed_with(struct ktl_conn *c, int code)
{
	return ktl_err(-code, "peer %s: link already failed: %s", c->peer, ktl_strerror(code));
}

static ssize_t failed(struct ktl_conn *c)
{
	return failed_with(c, c->fatal);
}

static ssize_t mark(struct ktl_conn *c, ssize_t ret)
{
	int none = 0;

	if (ret < 0)
		atomic_compare_exchange_strong(&c->fatal, &none, (int)ret);
	return ret;
}

static ssize_t mark_tx(struct ktl_conn *c, ssize_t ret)
{
	int none = 0;

	if (ret < 0)
		atomic_compare_exchange_strong(&c->tx_fatal, &none, (int)ret);
	return ret;
}

/* GnuTLS reports a peer that vanished mid-record as a length or pull
 * error; only an EOF on the socket tells it apart from a bad record. */
static bool at_eof(struct ktl_conn *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

#define CBUF_SIZE (32 * 1024)
/* GnuTLS reads a record as its 5-byte header, then exactly the body. */
#define REC_HEADER 5
#define BIG_READ 4096

size_t ktl_io_take_cbuf(struct ktl_conn *c, void *buf, size_t len)
{
	return ktl_take(c->rx_cbuf, c->rx_cbuf_len, &c->rx_cbuf_off, buf, len);
}

/* One recvmsg fills GnuTLS's buffer first and lets what follows land in
 * ours, so a record body is never copied a second time.  After a large
 * body only the next header is read ahead: the body after it then comes
 * straight into GnuTLS's buffer too.  Small records (a header or a short
 * body asked for) read ahead a whole buffer, many records per call. */
static ssize_t buffered_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct ktl_conn *c = p;
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	if (c->rx_cbuf_off < c->rx_cbuf_len)
		return (ssize_t)ktl_io_take_cbuf(c, buf, len);
	if (!c->rx_cbuf) {
		c->rx_cbuf = malloc(CBUF_SIZE);
		if (!c->rx_cbuf) {
			gnutls_transport_set_errno(c->s, ENOMEM);
			return -1;
		}
	}
	if (len >= BIG_READ)
		c->rx_big = true;
	else if (len > REC_HEADER)
		c->rx_big = false;
	iov[0] = (struct iovec){ buf, len };
	iov[1] = (struct iovec){ c->rx_cbuf, c->rx_big ? (len >= BIG_READ ? REC_HEADER : 0) : CBUF_SIZE };
	n = recvmsg(c->fd, &mh, 0);
	if (n < 0) {
		gnutls_transport_set_errno(c->s, errno);
		return -1;
	}
	if ((size_t)n <= len)
		return n;
	c->rx_cbuf_len = (size_t)n - len;
	c->rx_cbuf_off = 0;
	return (ssize_t)len;
}

static int buffered_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	struct ktl_conn *c = p;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int ret;

	if (c->rx_cbuf_off < c->rx_cbuf_len)
		return 1;
	ret = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	if (ret < 0)
		gnutls_transport_set_errno(c->s, errno);
	return ret;
}

void ktl_io_user_transport(struct ktl_conn *c)
{
	if (c->rx_kernel)
		return;
	/* Pull through the conn; push stays GnuTLS's own on the fd. */
	gnutls_transport_set_ptr2(c->s, c, (gnutls_transport_ptr_t)(intptr_t)c->fd);
	gnutls_transport_set_pull_function(c->s, buffered_pull);
	gnutls_transport_set_pull_timeout_function(c->s, buffered_pull_timeout);
}

KTL_API ssize_t ktl_send(struct ktl_conn *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t done = 0;

	if (c->fatal)
		return failed(c);
	if (c->tx_fatal)
		return failed_with(c, c->tx_fatal);
	if (c->wr_shut)
		return ktl_err(EPIPE, "peer %s: send after close_notify", c->peer);
	if (c->tx_kernel)
		return mark_tx(c, ktl_ktls_send(c, buf, len));
	while (done < len) {
		ssize_t n = gnutls_record_send(c->s, p + done, len - done);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return mark_tx(c, ktl_conn_fail(c, (int)n, "while sending"));
		done += (size_t)n;
	}
	return (ssize_t)len;
}

KTL_API ssize_t ktl_recv(struct ktl_conn *c, void *buf, size_t len)
{
	if (c->fatal)
		return failed(c);
	if (c->rx_carry_off < c->rx_carry_len)
		return (ssize_t)ktl_take(c->rx_carry, c->rx_carry_len, &c->rx_carry_off, buf, len);
	if (c->rd_eof || len == 0)
		return 0;
	if (c->rx_kernel)
		return mark(c, ktl_ktls_recv(c, buf, len));
	for (;;) {
		ssize_t n = gnutls_record_recv(c->s, buf, len);

		if (n > 0)
			return n;
		if (n == 0) {
			c->rd_eof = true;
			return 0;
		}
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_REHANDSHAKE) {
			/* TLS 1.2 renegotiation would change keys under us. */
			gnutls_alert_send(c->s, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
			continue;
		}
		if (n == GNUTLS_E_PREMATURE_TERMINATION ||
		    ((n == GNUTLS_E_UNEXPECTED_PACKET_LENGTH || n == GNUTLS_E_PULL_ERROR) && at_eof(c)))
			return mark(c, ktl_err(KTL_E_TRUNCATED,
					       "peer %s closed the connection without close_notify (truncated)",
					       c->peer));
		return mark(c, ktl_conn_fail(c, (int)n, "while receiving"));
	}
}

KTL_API int ktl_shutdown(struct ktl_conn *c)
{
	int ret = 0;

	if (c->wr_shut)
		return 0;
	if (c->fatal)
		return (int)failed(c);
	if (c->tx_fatal)
		return (int)failed_with(c, c->tx_fatal);
	c->wr_shut = true;
	if (c->tx_kernel) {
		ret = ktl_ktls_send_close_notify(c);
	} else {
		do {
			ret = gnutls_bye(c->s, GNUTLS_SHUT_WR);
		} while (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED);
		if (ret < 0)
			ret = ktl_conn_fail(c, ret, "while sending close_notify");
	}
	if (ret < 0)
		return (int)mark_tx(c, ret);
	/* The FIN tells a reader blocked in recv that nothing else follows. */
	shutdown(c->fd, SHUT_WR);
	return 0;
}

KTL_API ssize_t ktl_sendfile(struct ktl_conn *c, int file_fd, off_t *offset, size_t len)
{
	unsigned char buf[16384];
	size_t done = 0;

	if (c->fatal)
		return failed(c);
	if (c->tx_fatal)
		return failed_with(c, c->tx_fatal);
	if (c->wr_shut)
		return ktl_err(EPIPE, "peer %s: send after close_notify", c->peer);
	while (done < len) {
		size_t want = len - done;
		ssize_t n;

		if (c->tx_kernel) {
			/* The kernel encrypts page cache pages straight into records. */
			n = sendfile(c->fd, file_fd, offset, want);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return mark_tx(c, ktl_err(errno, "peer %s: sendfile: %s", c->peer, strerror(errno)));
		} else {
			n = pread(file_fd, buf, want < sizeof(buf) ? want : sizeof(buf), *offset);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return ktl_err(errno, "sendfile: read fd %d: %s", file_fd, strerror(errno));
			if (n > 0) {
				ssize_t w = ktl_send(c, buf, (size_t)n);

				if (w < 0)
					return w;
				*offset += n;
			}
		}
		if (n == 0)
			break; /* end of file: report the short count */
		done += (size_t)n;
	}
	return (ssize_t)done;
}
