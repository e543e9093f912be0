/* SPDX-License-Identifier: MIT */
/* `openssl`: the same protocol, cipher and certificates through OpenSSL 3
 * libssl (SSL_write/SSL_read), mutual authentication as ktlink does it.
 * Also used by handshake.c for OpenSSL's handshake rate. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"
#include "bench_ssl.h"
#include "pattern.h"

static void ssl_err(char *why, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200] = "no detail";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(why, len, "OpenSSL: %s: %s", what, buf);
	ERR_clear_error();
}

void *bench_ssl_ctx(const struct bench_run *run, bool server, char *why, size_t len)
{
	static const char *const suites13[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
						"TLS_CHACHA20_POLY1305_SHA256" };
	static const char *const suites12[] = {
		"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
	};
	const char *dir = server ? run->server_dir : run->client_dir;
	int v = run->o->tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	char ca[4200], chain[4200], key[4200];
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx) {
		ssl_err(why, len, "SSL_CTX_new");
		return NULL;
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(chain, sizeof(chain), "%s/node.crt", dir);
	snprintf(key, sizeof(key), "%s/node.key", dir);
	SSL_CTX_set_min_proto_version(ctx, v);
	SSL_CTX_set_max_proto_version(ctx, v);
	/* Full handshakes every time, like ktlink (GNUTLS_NO_TICKETS). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	if ((run->o->tls13 ? SSL_CTX_set_ciphersuites(ctx, suites13[run->o->cipher])
			   : SSL_CTX_set_cipher_list(ctx, suites12[run->o->cipher])) != 1) {
		ssl_err(why, len, "cipher suite");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, chain) != 1) {
		ssl_err(why, len, chain);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_err(why, len, key);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		ssl_err(why, len, ca);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void *bench_ssl_handshake(void *ctx, int fd, bool server, char *why, size_t len)
{
	SSL *s = SSL_new(ctx);
	int rc;

	if (!s) {
		ssl_err(why, len, "SSL_new");
		close(fd);
		return NULL;
	}
	SSL_set_fd(s, fd);
	rc = server ? SSL_accept(s) : SSL_connect(s);
	if (rc != 1) {
		ssl_err(why, len, server ? "SSL_accept" : "SSL_connect");
		SSL_free(s);
		close(fd);
		return NULL;
	}
	return s;
}

struct srv_hs {
	void *ctx;
	int fd;
	SSL *ssl;
	char why[256];
};

static void *srv_hs_thread(void *arg)
{
	struct srv_hs *h = arg;

	h->ssl = bench_ssl_handshake(h->ctx, h->fd, true, h->why, sizeof(h->why));
	return NULL;
}

static int ossl_open(const struct bench_run *run, struct bench_end *cli, struct bench_end *srv,
		     char *why, size_t len)
{
	SSL_CTX *cctx = bench_ssl_ctx(run, false, why, len);
	SSL_CTX *sctx = cctx ? bench_ssl_ctx(run, true, why, len) : NULL;
	struct srv_hs h = { .ctx = sctx };
	SSL *cs;
	pthread_t t;
	int c, s, err;

	if (!sctx || bench_tcp_pair(&c, &s, why, len) < 0) {
		SSL_CTX_free(cctx);
		SSL_CTX_free(sctx);
		return -1;
	}
	h.fd = s;
	err = pthread_create(&t, NULL, srv_hs_thread, &h);
	if (err) {
		snprintf(why, len, "starting the server handshake thread: %s", strerror(err));
		close(c);
		close(s);
		SSL_CTX_free(cctx);
		SSL_CTX_free(sctx);
		return -1;
	}
	cs = bench_ssl_handshake(cctx, c, false, why, len);
	if (!cs)
		shutdown(s, SHUT_RDWR);
	pthread_join(t, NULL);
	if (cs && !h.ssl)
		snprintf(why, len, "server: %s", h.why);
	if (!cs || !h.ssl) {
		if (cs) {
			SSL_free(cs);
			close(c);
		}
		if (h.ssl) {
			SSL_free(h.ssl);
			close(s);
		}
		SSL_CTX_free(cctx);
		SSL_CTX_free(sctx);
		return -1;
	}
	*cli = (struct bench_end){ .fd = c, .tls = cs, .ctx = cctx };
	*srv = (struct bench_end){ .fd = s, .tls = h.ssl, .ctx = sctx };
	return 0;
}

static ssize_t ossl_send(struct bench_end *e, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t n = 0;
		int chunk = len - done > (1u << 30) ? 1 << 30 : (int)(len - done);

		if (SSL_write_ex(e->tls, (const char *)buf + done, (size_t)chunk, &n) != 1)
			return -EPIPE;
		done += n;
	}
	return (ssize_t)len;
}

static ssize_t ossl_recv(struct bench_end *e, void *buf, size_t len)
{
	size_t n = 0;

	if (SSL_read_ex(e->tls, buf, len, &n) == 1)
		return (ssize_t)n;
	if (SSL_get_error(e->tls, 0) == SSL_ERROR_ZERO_RETURN)
		return 0; /* close_notify */
	return -EIO;
}

static void ossl_shut(struct bench_end *e)
{
	/* Sends close_notify; the read side stays open for "both". */
	SSL_shutdown(e->tls);
	shutdown(e->fd, SHUT_WR);
}

static void ossl_close(struct bench_end *e)
{
	SSL_free(e->tls);
	SSL_CTX_free(e->ctx);
	if (e->fd >= 0)
		close(e->fd);
	e->tls = e->ctx = NULL;
	e->fd = -1;
}

static void ossl_describe(struct bench_end *e, char *buf, size_t len)
{
	SSL *s = e->tls;
	const char *group = SSL_group_to_name(s, SSL_get_negotiated_group(s));

	snprintf(buf, len, "%s %s %s, %s", SSL_get_version(s), SSL_get_cipher_name(s), group ? group : "?",
		 OpenSSL_version(OPENSSL_VERSION));
}

static int both_err(struct bench_worker *w, const char *what, uint64_t off, int err)
{
	unsigned long e = ERR_get_error();
	char buf[200] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return bench_fail(w, "%s at offset %llu: SSL error %d %s", what, (unsigned long long)off, err, buf);
}

/* One SSL_write (or the close_notify) moved on.  1 progress, 0 blocked
 * (*ev says on what), -1 failed.  A write that blocked is finished before
 * close_notify: part of its record may already be on the wire. */
static int both_write(struct bench_worker *w, SSL *s, const unsigned char *buf, size_t size, bool *pending,
		      bool *shut, short *ev)
{
	bool closing = !*pending && atomic_load_explicit(&w->st->stop, memory_order_relaxed);
	size_t n = 0;
	int rc, err;

	if (closing) {
		rc = SSL_shutdown(s);
		if (rc >= 0) {
			*shut = true;
			return 1;
		}
	} else {
		rc = SSL_write_ex(s, buf, size, &n);
		if (rc == 1) {
			*pending = false;
			w->tx_bytes += n;
			return 1;
		}
	}
	err = SSL_get_error(s, rc);
	if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
		*pending = !closing;
		*ev |= err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		return 0;
	}
	return both_err(w, closing ? "SSL_shutdown" : "SSL_write", w->tx_bytes, err);
}

static int both_read(struct bench_worker *w, SSL *s, unsigned char *buf, size_t len, bool *eof, short *ev)
{
	size_t n = 0;
	uint64_t off = atomic_load_explicit(&w->rx_bytes, memory_order_relaxed);
	int rc = SSL_read_ex(s, buf, len, &n), err;

	if (rc == 1) {
		if (bench_check(w, buf, n, off) < 0)
			return -1;
		atomic_store_explicit(&w->rx_bytes, off + n, memory_order_relaxed);
		return 1;
	}
	err = SSL_get_error(s, rc);
	if (err == SSL_ERROR_ZERO_RETURN) {
		*eof = true;
		return 1;
	}
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		*ev |= err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		return 0;
	}
	return both_err(w, "SSL_read", off, err);
}

/* --direction both: an SSL object takes no SSL_read and SSL_write from two
 * threads at once, so one thread per side drives both on a non-blocking
 * socket.  A write that would block is retried with the same buffer, as
 * OpenSSL requires; the pattern for the next one is made only after it. */
static int ossl_both(struct bench_worker *w)
{
	struct bench_end *e = w->e;
	size_t size = w->st->size, rlen = size < 16384 ? 16384 : size;
	unsigned char *tx = malloc(size), *rx = malloc(rlen);
	bool shut = false, eof = false, pending = false;
	int ret = 0;

	if (!tx || !rx || fcntl(e->fd, F_SETFL, fcntl(e->fd, F_GETFL) | O_NONBLOCK) < 0) {
		ret = bench_fail(w, "set-up: %s", !tx || !rx ? "out of memory" : strerror(errno));
		goto out;
	}
	pattern_fill(tx, size, 0, w->tx_seed);
	while (!shut || !eof) {
		short ev = 0;
		int wr = 0, rd = 0;

		if (!shut) {
			uint64_t before = w->tx_bytes;

			wr = both_write(w, e->tls, tx, size, &pending, &shut, &ev);
			if (wr > 0 && w->tx_bytes != before)
				pattern_fill(tx, size, w->tx_bytes, w->tx_seed);
		}
		if (wr >= 0 && !eof)
			rd = both_read(w, e->tls, rx, rlen, &eof, &ev);
		if (wr < 0 || rd < 0) {
			ret = -1;
			break;
		}
		if (!wr && !rd && poll(&(struct pollfd){ .fd = e->fd, .events = ev ? ev : POLLIN }, 1, 100) < 0 &&
		    errno != EINTR) {
			ret = bench_fail(w, "poll: %s", strerror(errno));
			break;
		}
	}
out:
	free(tx);
	free(rx);
	return ret;
}

const struct bench_path bench_path_openssl = {
	.id = BP_OPENSSL,
	.desc = "OpenSSL 3 libssl SSL_write/SSL_read",
	.open = ossl_open,
	.send = ossl_send,
	.recv = ossl_recv,
	.shut = ossl_shut,
	.close = ossl_close,
	.both = ossl_both,
	.describe = ossl_describe,
};
