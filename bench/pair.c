/* SPDX-License-Identifier: MIT */
/* Loopback links for the benchmark: a TCP pair, and a ktlink pair whose
 * two handshakes run at once (server side in a thread). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "ktlink.h"

int bench_tcp_pair(int *cli, int *srv, char *why, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int l, c = -1, s = -1;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0)
		goto fail;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		goto fail;
	close(l);
	/* ktlink links run with TCP_NODELAY (set for the handshake and left
	 * on); every path gets the same so only the record layer differs. */
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	*cli = c;
	*srv = s;
	return 0;
fail:
	snprintf(why, len, "loopback TCP pair: %s", strerror(errno));
	if (l >= 0)
		close(l);
	if (c >= 0)
		close(c);
	return -1;
}

const char *bench_ktls_missing(void)
{
	static char why[160];
	struct ktl_support sup;

	if (ktl_probe_support(&sup) < 0) {
		snprintf(why, sizeof(why), "cannot probe kTLS support: %s", ktl_last_error());
		return why;
	}
	if (sup.ktls_ulp)
		return NULL;
	snprintf(why, sizeof(why), "kernel %s has no kTLS (TCP_ULP tls: %s)", sup.kernel_release,
		 sup.ktls_ulp_err == ENOENT ? "ENOENT" : strerror(sup.ktls_ulp_err));
	return why;
}

struct ktl_config *bench_ktl_config(const struct bench_run *run, bool server, int ktls_mode,
				    char *why, size_t len)
{
	static const unsigned cipher_mask[] = { KTL_AES_128_GCM, KTL_AES_256_GCM, KTL_CHACHA20_POLY1305 };
	const char *dir = server ? run->server_dir : run->client_dir;
	struct ktl_config *cfg = NULL;
	int ret;

	if ((ret = ktl_config_new(&cfg)) < 0 || (ret = ktl_config_load_dir(cfg, dir)) < 0 ||
	    (ret = ktl_config_restrict(cfg, run->o->tls13 ? KTL_TLS13 : KTL_TLS12,
				       cipher_mask[run->o->cipher])) < 0 ||
	    (ret = ktl_config_set_ktls(cfg, (enum ktl_ktls_mode)ktls_mode)) < 0) {
		snprintf(why, len, "ktlink config from %s: %s", dir, ktl_last_error());
		ktl_config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct server_hs {
	struct ktl_config *cfg;
	int fd;
	struct ktl_conn *conn;
	int rc;
	char err[256];
};

static void *server_hs_thread(void *arg)
{
	struct server_hs *h = arg;

	h->rc = ktl_wrap_fd(&h->conn, h->cfg, h->fd, KTL_SERVER);
	if (h->rc < 0)
		snprintf(h->err, sizeof(h->err), "%s", ktl_last_error());
	return NULL;
}

int bench_ktl_pair(const struct bench_run *run, int ktls_mode, struct bench_end *cli,
		   struct bench_end *srv, char *why, size_t len)
{
	struct ktl_config *ccfg, *scfg;
	struct server_hs h = { 0 };
	struct ktl_conn *cc = NULL;
	pthread_t t;
	int c, s, rc;

	ccfg = bench_ktl_config(run, false, ktls_mode, why, len);
	scfg = ccfg ? bench_ktl_config(run, true, ktls_mode, why, len) : NULL;
	if (!scfg) {
		ktl_config_free(ccfg);
		return -1;
	}
	if (bench_tcp_pair(&c, &s, why, len) < 0) {
		ktl_config_free(ccfg);
		ktl_config_free(scfg);
		return -1;
	}
	h.cfg = scfg;
	h.fd = s;
	rc = pthread_create(&t, NULL, server_hs_thread, &h);
	if (rc) {
		snprintf(why, len, "starting the server handshake thread: %s", strerror(rc));
		close(c);
		close(s);
		ktl_config_free(ccfg);
		ktl_config_free(scfg);
		return -1;
	}
	rc = ktl_wrap_fd(&cc, ccfg, c, KTL_CLIENT);
	if (rc < 0)
		snprintf(why, len, "client handshake: %s", ktl_last_error());
	pthread_join(t, NULL);
	if (rc >= 0 && h.rc < 0) {
		snprintf(why, len, "server handshake: %s", h.err);
		rc = h.rc;
	}
	/* The connections hold their own references. */
	ktl_config_free(ccfg);
	ktl_config_free(scfg);
	if (rc < 0) {
		ktl_close(cc);
		ktl_close(h.conn);
		return -1;
	}
	*cli = (struct bench_end){ .fd = ktl_fd(cc), .tls = cc };
	*srv = (struct bench_end){ .fd = ktl_fd(h.conn), .tls = h.conn };
	return 0;
}
