/* SPDX-License-Identifier: MIT */
/* --scale N: N links at once, each side's links on one ring.  Measures the
 * set-up (handshakes per second while N links come up), the resident
 * memory per established link (VmRSS before and after, both ends live in
 * this process, so per link end = delta / 2N) and the aggregate throughput
 * of all N links for --time seconds. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "bench_ring.h"
#include "ktlink.h"
#include "pattern.h"

static long vm_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

struct acceptor {
	struct ktl_config *cfg;
	int lfd;
	unsigned n, got;
	struct ring_link *links;
	char why[256];
};

static void *accept_thread(void *arg)
{
	struct acceptor *a = arg;

	for (a->got = 0; a->got < a->n; a->got++)
		if (ktl_accept(&a->links[a->got].c, a->cfg, a->lfd) < 0) {
			snprintf(a->why, sizeof(a->why), "server: %s", ktl_last_error());
			break;
		}
	return NULL;
}

struct driver {
	pthread_t t;
	struct ring_side side;
	double cpu;
	atomic_int *ready;            /* attached sides */
	atomic_bool *go;
};

/* Each side's ring is made and driven in its own thread (io_uring rings
 * may refuse submissions from another thread: EEXIST). */
static void *drive_thread(void *arg)
{
	struct driver *d = arg;
	double c0 = bench_thread_cpu();

	if (bench_ring_attach(&d->side) < 0)
		bench_ring_abort(&d->side);
	atomic_fetch_add(d->ready, 1);
	while (!atomic_load(d->go))
		usleep(1000);
	if (!d->side.w->failed)
		bench_ring_drive(&d->side);
	d->cpu = bench_thread_cpu() - c0;
	return NULL;
}

/* Both ends of every link live in this process: 2 fds per link and some
 * to spare.  Raised up to the hard limit; beyond it the run cannot work,
 * which is said before a minute of handshakes, not in the middle. */
static int raise_nofile(unsigned need, char *why, size_t len)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		snprintf(why, len, "%u links need %u open files, the hard limit is %llu "
			 "(raise it: ulimit -Hn %u, as root)", need / 2 - 128, need,
			 (unsigned long long)rl.rlim_max, need);
		return -1;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(why, len, "raising the open-file limit to %u: %s", need, strerror(errno));
		return -1;
	}
	return 0;
}

/* Send buffers: two messages per link are kept queued on the client. */
#define SCALE_BUF_MAX (2ull << 30)

int bench_scale_check(const struct bench_opts *o, char *why, size_t len)
{
	unsigned long long need = 2ull * o->scale * o->sizes[0];

	if (!o->scale)
		return 0;
	if (need > SCALE_BUF_MAX) {
		snprintf(why, len, "%u links of %zu-byte messages need %llu MiB of send buffers, above the %llu MiB "
			 "this run allows; use a smaller --size or fewer links", o->scale, o->sizes[0], need >> 20,
			 SCALE_BUF_MAX >> 20);
		return -1;
	}
	return raise_nofile(2 * o->scale + 256, why, len);
}

/* Each link carries its own stream: a byte delivered on the wrong link
 * fails the pattern check, and a link must deliver all it sent. */
static int match_links(const struct ring_link *cl, const struct ring_link *sl, unsigned n, char *why,
		       size_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (cl[i].tx_done != sl[i].rx_off) {
			snprintf(why, len, "link %u: client sent %llu bytes, server received %llu", i,
				 (unsigned long long)cl[i].tx_done, (unsigned long long)sl[i].rx_off);
			return -1;
		}
	return 0;
}

static void close_links(struct ring_link *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		ktl_close(l[i].c);
		l[i].c = NULL;
		if (l[i].bufs)
			for (unsigned k = 0; k < 2; k++)
				free(l[i].bufs[k]);
		free(l[i].bufs);
	}
}

void bench_scale(struct bench_run *run)
{
	const struct bench_opts *o = run->o;
	struct bench_scale_result *s = &run->scale;
	unsigned n = o->scale, connected = 0;
	bool ktls = bench_ktls_missing() == NULL;
	int mode = ktls ? KTL_KTLS_AUTO : KTL_KTLS_OFF;
	struct ring_link *cl = calloc(n, sizeof(*cl)), *sl = calloc(n, sizeof(*sl));
	struct acceptor acc = { .n = n, .lfd = -1 };
	struct ktl_config *ccfg = NULL;
	struct bench_stream st = { .run = run, .size = o->sizes[0], .file_fd = -1 };
	struct bench_worker cw = { .st = &st, .is_client = true, .do_send = true },
			    sw = { .st = &st, .do_recv = true };
	struct driver dc = { 0 }, ds = { 0 };
	atomic_int ready = 0;
	atomic_bool go = false;
	char port[16];
	struct sockaddr_storage ss;
	socklen_t sl_len = sizeof(ss);
	pthread_t at;
	int err;
	double t0;

	memset(s, 0, sizeof(*s));
	s->links = n;
	snprintf(s->path, sizeof(s->path), "%s", ktls ? "ktls-uring" : "uring");
	printf("\n== scale: %u link%s, one ring per side, %s, %zu-byte sends client to server ==\n", n,
	       n == 1 ? "" : "s", s->path, st.size);
	if (o->direction == DIR_BOTH || o->n_sizes > 1)
		printf("(--direction and --sweep apply to the paths above; the scale run is one way at the first size)\n");
	fflush(stdout);
	atomic_init(&st.stop, false);
	if (!cl || !sl)
		goto fail_msg;
	for (unsigned i = 0; i < n; i++)
		cl[i].tx_seed = sl[i].rx_seed = pattern_seed(i);
	if (raise_nofile(2 * n + 256, s->reason, sizeof(s->reason)) < 0)
		goto out;
	ccfg = bench_ktl_config(run, false, mode, s->reason, sizeof(s->reason));
	acc.cfg = ccfg ? bench_ktl_config(run, true, mode, s->reason, sizeof(s->reason)) : NULL;
	if (!acc.cfg)
		goto out;
	acc.lfd = ktl_listen("127.0.0.1", "0", (int)(n < 4096 ? n : 4096));
	if (acc.lfd < 0 || getsockname(acc.lfd, (struct sockaddr *)&ss, &sl_len) < 0) {
		snprintf(s->reason, sizeof(s->reason), "listen: %s", ktl_last_error());
		goto out;
	}
	snprintf(port, sizeof(port), "%u", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	acc.links = sl;
	s->rss_before_kb = vm_rss_kib();
	t0 = bench_now();
	err = pthread_create(&at, NULL, accept_thread, &acc);
	if (err) {
		snprintf(s->reason, sizeof(s->reason), "starting the accept thread: %s", strerror(err));
		goto out;
	}
	for (; connected < n; connected++)
		if (ktl_connect(&cl[connected].c, ccfg, "127.0.0.1", port) < 0) {
			snprintf(s->reason, sizeof(s->reason), "client link %u: %s", connected, ktl_last_error());
			shutdown(acc.lfd, SHUT_RDWR);
			break;
		}
	pthread_join(at, NULL);
	s->setup_s = bench_now() - t0;
	if (connected < n || acc.got < n) {
		if (!s->reason[0])
			snprintf(s->reason, sizeof(s->reason), "%s", acc.why);
		goto out;
	}
	s->hs_per_s = n / s->setup_s;
	s->rss_links_kb = vm_rss_kib();
	s->kib_per_link_end = (double)(s->rss_links_kb - s->rss_before_kb) / (2.0 * n);
	printf("set-up   %u links in %.2f s: %.0f handshakes/s (client and server on this host)\n", n,
	       s->setup_s, s->hs_per_s);
	printf("memory   VmRSS %ld -> %ld KiB: %.1f KiB per established link end (both ends here)\n",
	       s->rss_before_kb, s->rss_links_kb, s->kib_per_link_end);
	fflush(stdout);

	dc.side = (struct ring_side){ .w = &cw, .links = cl, .n = n, .size = st.size, .depth = 2 };
	ds.side = (struct ring_side){ .w = &sw, .links = sl, .n = n, .size = st.size, .depth = 2 };
	dc.ready = ds.ready = &ready;
	dc.go = ds.go = &go;
	err = pthread_create(&ds.t, NULL, drive_thread, &ds);
	if (err) {
		snprintf(s->reason, sizeof(s->reason), "starting the server ring thread: %s", strerror(err));
		goto out;
	}
	err = pthread_create(&dc.t, NULL, drive_thread, &dc);
	if (err) {
		snprintf(s->reason, sizeof(s->reason), "starting the client ring thread: %s", strerror(err));
		/* The server thread sees the failure when let go and only detaches. */
		sw.failed = 1;
		atomic_store(&go, true);
		pthread_join(ds.t, NULL);
		goto out;
	}
	/* Idle links on their rings, receives armed, nothing sent yet. */
	while (atomic_load(&ready) < 2)
		usleep(1000);
	s->rss_ring_kb = vm_rss_kib();
	s->kib_per_link_end_ring = (double)(s->rss_ring_kb - s->rss_before_kb) / (2.0 * n);
	t0 = bench_now();
	atomic_store(&go, true);
	while (bench_now() < t0 + o->time_s && !cw.failed && !sw.failed)
		usleep(10 * 1000);
	atomic_store(&st.stop, true);
	pthread_join(dc.t, NULL);
	pthread_join(ds.t, NULL);
	s->seconds = bench_now() - t0;
	s->bytes = ds.side.rx_total;
	s->gbit_s = (double)s->bytes * 8 / s->seconds / 1e9;
	s->cpu_client = dc.cpu;
	s->cpu_server = ds.cpu;
	if (cw.failed || sw.failed)
		snprintf(s->reason, sizeof(s->reason), "%s", cw.failed ? cw.err : sw.err);
	else
		match_links(cl, sl, n, s->reason, sizeof(s->reason));
	if (s->reason[0])
		printf("FAILED: %s\n", s->reason);
	s->ran = true;
	printf("memory   idle on the rings: VmRSS %ld KiB, %.1f KiB per link end\n", s->rss_ring_kb,
	       s->kib_per_link_end_ring);
	printf("traffic  %.2f Gbit/s aggregate over %u links (%llu bytes verified in %.2f s, "
	       "CPU client %.2f s server %.2f s)\n",
	       s->gbit_s, n, (unsigned long long)s->bytes, s->seconds, s->cpu_client, s->cpu_server);
	goto out;
fail_msg:
	snprintf(s->reason, sizeof(s->reason), "out of memory");
out:
	if (!s->ran)
		printf("FAILED: %s\n", s->reason);
	if (dc.side.ring)
		ktl_ring_free(dc.side.ring);
	if (ds.side.ring)
		ktl_ring_free(ds.side.ring);
	if (cl)
		close_links(cl, connected);
	if (sl)
		close_links(sl, acc.got);
	if (acc.lfd >= 0)
		close(acc.lfd);
	ktl_config_free(ccfg);
	ktl_config_free(acc.cfg);
	free(cl);
	free(sl);
	fflush(stdout);
}
