/* SPDX-License-Identifier: MIT */
/* The ktlink paths that use the blocking API: `gnutls` (records in user
 * space, ktl_send/ktl_recv), `ktls` (records in the kernel, plain
 * read/write on ktl_fd) and `ktls-sendfile` (ktl_sendfile from a file). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "ktlink.h"

int bench_gnutls_open(const struct bench_run *run, struct bench_end *cli, struct bench_end *srv,
		       char *why, size_t len)
{
	return bench_ktl_pair(run, KTL_KTLS_OFF, cli, srv, why, len);
}

void bench_ktl_close(struct bench_end *e)
{
	ktl_close(e->tls);
	e->tls = NULL;
	e->fd = -1;
}

int bench_ktls_probe(const struct bench_run *run, char *why, size_t len)
{
	const char *missing = bench_ktls_missing();

	if (!missing)
		return 0;
	snprintf(why, len, "%s", missing);
	return 1;
}

/* kTLS paths measure the kernel's records; a link that kept either
 * direction in user space would measure something else. */
int bench_ktls_open(const struct bench_run *run, struct bench_end *cli, struct bench_end *srv,
		     char *why, size_t len)
{
	struct ktl_info ci, si;
	int rc = bench_ktl_pair(run, KTL_KTLS_AUTO, cli, srv, why, len);

	if (rc < 0)
		return rc;
	ktl_get_info(cli->tls, &ci);
	ktl_get_info(srv->tls, &si);
	if (ci.tx_kernel && ci.rx_kernel && si.tx_kernel && si.rx_kernel)
		return 0;
	snprintf(why, len, "%s %s not in the kernel: %s",
		 !ci.tx_kernel || !si.tx_kernel ? "TX" : "RX", ci.cipher,
		 !ci.tx_kernel ? ci.tx_reason : !si.tx_kernel ? si.tx_reason :
		 !ci.rx_kernel ? ci.rx_reason : si.rx_reason);
	bench_ktl_close(cli);
	bench_ktl_close(srv);
	return 1;
}

static ssize_t ktl_send_all(struct bench_end *e, const void *buf, size_t len)
{
	return ktl_send(e->tls, buf, len);
}

static ssize_t ktl_recv_some(struct bench_end *e, void *buf, size_t len)
{
	return ktl_recv(e->tls, buf, len);
}

static void ktl_shut(struct bench_end *e)
{
	ktl_shutdown(e->tls);
}

void bench_ktl_describe(struct bench_end *e, char *buf, size_t len)
{
	struct ktl_info i;

	ktl_get_info(e->tls, &i);
	snprintf(buf, len, "%s %s %s, TX %s, RX %s", i.protocol, i.cipher, i.kx,
		 i.tx_kernel ? "kernel" : "user", i.rx_kernel ? "kernel" : "user");
}

static ssize_t fd_send(struct bench_end *e, const void *buf, size_t len)
{
	return bench_fd_write_all(e->fd, buf, len);
}

/* read() on a kTLS socket returns EIO at a control record (the peer's
 * close_notify); ktl_recv reads it with its record type and says 0. */
static ssize_t fd_recv(struct bench_end *e, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(e->fd, buf, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EIO)
			return ktl_recv(e->tls, buf, len);
		return -errno;
	}
}

static int sendfile_sender(struct bench_worker *w)
{
	struct bench_stream *st = w->st;
	uint64_t sent = 0;

	while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
		off_t off = (off_t)(sent % st->file_len);
		size_t want = st->size;
		ssize_t n;

		if (want > st->file_len - (uint64_t)off)
			want = (size_t)(st->file_len - (uint64_t)off);
		n = ktl_sendfile(w->e->tls, st->file_fd, &off, want);
		if (n <= 0)
			return bench_fail(w, "ktl_sendfile at offset %llu: %s", (unsigned long long)sent,
					  n < 0 ? ktl_last_error() : "sent nothing");
		sent += (uint64_t)n;
	}
	w->tx_bytes = sent;
	ktl_shutdown(w->e->tls);
	return 0;
}

const struct bench_path bench_path_gnutls = {
	.id = BP_GNUTLS,
	.desc = "ktlink, records in GnuTLS (user space)",
	.open = bench_gnutls_open,
	.send = ktl_send_all,
	.recv = ktl_recv_some,
	.shut = ktl_shut,
	.close = bench_ktl_close,
	.describe = bench_ktl_describe,
};

const struct bench_path bench_path_ktls = {
	.id = BP_KTLS,
	.desc = "ktlink, kTLS, read/write on ktl_fd()",
	.probe = bench_ktls_probe,
	.open = bench_ktls_open,
	.send = fd_send,
	.recv = fd_recv,
	.shut = ktl_shut,
	.close = bench_ktl_close,
	.describe = bench_ktl_describe,
};

const struct bench_path bench_path_ktls_sendfile = {
	.id = BP_KTLS_SENDFILE,
	.desc = "ktl_sendfile (kTLS TX) from a file, receiver read()s",
	.probe = bench_ktls_probe,
	.open = bench_ktls_open,
	.send = fd_send,
	.recv = fd_recv,
	.shut = ktl_shut,
	.close = bench_ktl_close,
	.sender = sendfile_sender,
	.describe = bench_ktl_describe,
};
