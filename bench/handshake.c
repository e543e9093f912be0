/* SPDX-License-Identifier: MIT */
/* --handshakes: full mutual-auth handshakes per second with the three-level
 * chain (root, agency, node), one client and one server thread per CPU, for
 * --time seconds; ktlink first, then OpenSSL with the same files. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "bench_ssl.h"
#include "ktlink.h"

struct hs_lib {
	const char *name;
	/* One whole link on a connected fd (taken over): 0 or -1. */
	int (*link)(void *cfg, int fd, bool server, char *why, size_t len);
};

static int ktl_link(void *cfg, int fd, bool server, char *why, size_t len)
{
	struct ktl_conn *c;

	if (ktl_wrap_fd(&c, cfg, fd, server ? KTL_SERVER : KTL_CLIENT) < 0) {
		snprintf(why, len, "%s", ktl_last_error());
		return -1;
	}
	ktl_close(c);
	return 0;
}

static int ssl_link(void *ctx, int fd, bool server, char *why, size_t len)
{
	SSL *s = bench_ssl_handshake(ctx, fd, server, why, len);

	if (!s)
		return -1;
	SSL_shutdown(s);
	SSL_free(s);
	close(fd);
	return 0;
}

static const struct hs_lib libs[2] = { { "ktlink", ktl_link }, { "openssl", ssl_link } };

struct hs_shared {
	const struct hs_lib *lib;
	void *ccfg, *scfg;
	int lfd;
	struct sockaddr_in addr;
	double deadline;
	char why[256];
	pthread_mutex_t lock;
};

struct hs_thread {
	pthread_t t;
	struct hs_shared *sh;
	uint64_t ok, bad;
	double cpu;
};

static void note(struct hs_shared *sh, const char *side, const char *why)
{
	pthread_mutex_lock(&sh->lock);
	if (!sh->why[0])
		snprintf(sh->why, sizeof(sh->why), "%.40s: %.200s", side, why);
	pthread_mutex_unlock(&sh->lock);
}

static void *client_thread(void *arg)
{
	struct hs_thread *t = arg;
	struct hs_shared *sh = t->sh;
	double c0 = bench_thread_cpu();
	char why[256];

	while (bench_now() < sh->deadline) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sh->addr, sizeof(sh->addr)) < 0) {
			note(sh, "client connect", strerror(errno));
			if (fd >= 0)
				close(fd);
			t->bad++;
			usleep(1000);
			continue;
		}
		if (sh->lib->link(sh->ccfg, fd, false, why, sizeof(why)) == 0) {
			t->ok++;
		} else {
			note(sh, "client", why);
			t->bad++;
		}
	}
	t->cpu = bench_thread_cpu() - c0;
	return NULL;
}

static void *server_thread(void *arg)
{
	struct hs_thread *t = arg;
	struct hs_shared *sh = t->sh;
	double c0 = bench_thread_cpu();
	char why[256];

	for (;;) {
		int fd = accept4(sh->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* the listener was shut: the run is over */
		}
		if (sh->lib->link(sh->scfg, fd, true, why, sizeof(why)) == 0) {
			t->ok++;
		} else if (bench_now() < sh->deadline) {
			note(sh, "server", why);
			t->bad++;
		}
	}
	t->cpu = bench_thread_cpu() - c0;
	return NULL;
}

static void run_lib(struct bench_run *run, const struct hs_lib *lib, struct bench_hs_result *res)
{
	unsigned n = run->nproc > 0 ? (unsigned)run->nproc : 1, i, n_cli = 0, n_srv = 0;
	struct hs_shared sh = { .lib = lib, .lfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };
	struct hs_thread cli[64], srv[64];
	socklen_t al = sizeof(sh.addr);
	double t0;

	memset(res, 0, sizeof(*res));
	snprintf(res->lib, sizeof(res->lib), "%s", lib->name);
	if (n > 64)
		n = 64;
	if (lib == &libs[0]) {
		sh.ccfg = bench_ktl_config(run, false, KTL_KTLS_OFF, res->reason, sizeof(res->reason));
		sh.scfg = sh.ccfg ? bench_ktl_config(run, true, KTL_KTLS_OFF, res->reason, sizeof(res->reason)) : NULL;
	} else {
		sh.ccfg = bench_ssl_ctx(run, false, res->reason, sizeof(res->reason));
		sh.scfg = sh.ccfg ? bench_ssl_ctx(run, true, res->reason, sizeof(res->reason)) : NULL;
	}
	if (!sh.scfg)
		goto out;
	sh.addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	sh.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sh.lfd < 0 || bind(sh.lfd, (struct sockaddr *)&sh.addr, sizeof(sh.addr)) < 0 ||
	    listen(sh.lfd, 4096) < 0 || getsockname(sh.lfd, (struct sockaddr *)&sh.addr, &al) < 0) {
		snprintf(res->reason, sizeof(res->reason), "listen on loopback: %s", strerror(errno));
		goto out;
	}
	res->client_threads = res->server_threads = n;
	memset(cli, 0, sizeof(cli));
	memset(srv, 0, sizeof(srv));
	t0 = bench_now();
	sh.deadline = t0 + run->o->time_s;
	for (i = 0; i < n; i++) {
		int err;

		srv[i].sh = cli[i].sh = &sh;
		err = pthread_create(&srv[i].t, NULL, server_thread, &srv[i]);
		if (!err) {
			n_srv++; /* leaves when the listener is shut */
			err = pthread_create(&cli[i].t, NULL, client_thread, &cli[i]);
		}
		if (err) {
			snprintf(res->reason, sizeof(res->reason), "starting handshake threads: %s", strerror(err));
			sh.deadline = 0; /* the clients already running stop */
			break;
		}
		n_cli++;
	}
	for (i = 0; i < n_cli; i++)
		pthread_join(cli[i].t, NULL);
	res->seconds = bench_now() - t0;
	/* Let the servers finish the links already accepted, then stop them. */
	usleep(100 * 1000);
	shutdown(sh.lfd, SHUT_RDWR);
	for (i = 0; i < n_srv; i++)
		pthread_join(srv[i].t, NULL);
	if (n_cli < n)
		goto out;
	for (i = 0; i < n; i++) {
		res->handshakes += cli[i].ok;
		res->failures += cli[i].bad + srv[i].bad;
		res->cpu_client += cli[i].cpu;
		res->cpu_server += srv[i].cpu;
	}
	res->per_s = res->seconds > 0 ? (double)res->handshakes / res->seconds : 0;
	res->ran = true;
	snprintf(res->reason, sizeof(res->reason), "%s", sh.why);
out:
	if (sh.lfd >= 0)
		close(sh.lfd);
	if (lib == &libs[0]) {
		ktl_config_free(sh.ccfg);
		ktl_config_free(sh.scfg);
	} else {
		SSL_CTX_free(sh.ccfg);
		SSL_CTX_free(sh.scfg);
	}
}

void bench_handshakes(struct bench_run *run)
{
	unsigned i;

	printf("\n== handshakes: full mutual auth, root > agency > node, TLS %s, %.1f s ==\n",
	       run->o->tls13 ? "1.3" : "1.2", run->o->time_s);
	fflush(stdout);
	for (i = 0; i < 2; i++) {
		struct bench_hs_result *h = &run->hs[i];

		run_lib(run, &libs[i], h);
		if (!h->ran) {
			printf("%-8s unavailable: %s\n", h->lib, h->reason);
			continue;
		}
		printf("%-8s %8.0f handshakes/s  (%llu in %.2f s, %u client x %u server threads, "
		       "CPU client %.2f s server %.2f s, %llu failed)\n",
		       h->lib, h->per_s, (unsigned long long)h->handshakes, h->seconds, h->client_threads,
		       h->server_threads, h->cpu_client, h->cpu_server, (unsigned long long)h->failures);
		if (h->failures && h->reason[0])
			printf("         first failure: %s\n", h->reason);
		fflush(stdout);
	}
}
