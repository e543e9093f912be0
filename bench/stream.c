/* SPDX-License-Identifier: MIT */
/* Times one path: opens the links, runs a sender and a receiver thread per
 * link and direction (or one ring thread per side), prints the progress
 * lines and fills a bench_result.  CPU is per thread (RUSAGE_THREAD), so
 * client and server are told apart although they share the process. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "pattern.h"

/* The sendfile source: 64 MiB in the page cache, sent round and round. */
#define FILE_LEN (64ull << 20)
#define FILE_SEED_STREAM 0x5f11e

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_thread_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* The first failure of a run, which is the one worth reporting: later ones
 * are usually the peer noticing the shutdown below. */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_err[256];

int bench_fail(struct bench_worker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	w->failed = 1;
	pthread_mutex_lock(&fail_lock);
	if (!first_err[0])
		snprintf(first_err, sizeof(first_err), "%s: %.240s", w->is_client ? "client" : "server", w->err);
	pthread_mutex_unlock(&fail_lock);
	atomic_store(&w->st->stop, true);
	/* Wake a peer blocked in send or recv on this link. */
	if (w->e && w->e->fd >= 0)
		shutdown(w->e->fd, SHUT_RDWR);
	return -1;
}

int bench_check(struct bench_worker *w, const void *buf, size_t n, uint64_t at)
{
	return bench_check_seed(w, w->rx_seed, buf, n, at);
}

int bench_check_seed(struct bench_worker *w, uint64_t seed, const void *buf, size_t n, uint64_t at)
{
	uint64_t period = w->st->file_len;
	const unsigned char *p = buf;
	size_t done = 0;

	while (done < n) {
		/* A sendfile stream restarts the file's pattern every period. */
		uint64_t pos = period ? (at + done) % period : at + done;
		size_t chunk = n - done;
		long bad;

		if (period && chunk > period - pos)
			chunk = (size_t)(period - pos);
		bad = pattern_check(p + done, chunk, pos, seed);
		if (bad >= 0)
			return bench_fail(w, "data mismatch at stream offset %llu (received 0x%02x)",
					  (unsigned long long)(at + done + (size_t)bad), p[done + (size_t)bad]);
		done += chunk;
	}
	return 0;
}

int bench_send_loop(struct bench_worker *w)
{
	const struct bench_path *p = w->st->path;
	size_t size = w->st->size;
	unsigned char *buf = malloc(size);
	uint64_t off = 0;
	int ret = 0;

	if (!buf)
		return bench_fail(w, "out of memory");
	while (!atomic_load_explicit(&w->st->stop, memory_order_relaxed)) {
		ssize_t n;

		pattern_fill(buf, size, off, w->tx_seed);
		n = p->send(w->e, buf, size);
		if (n < 0) {
			ret = bench_fail(w, "send at offset %llu: %s", (unsigned long long)off, w->err[0] ? w->err : strerror((int)-n));
			break;
		}
		off += (uint64_t)n;
	}
	w->tx_bytes = off;
	if (!ret)
		p->shut(w->e);
	free(buf);
	return ret;
}

int bench_recv_loop(struct bench_worker *w)
{
	const struct bench_path *p = w->st->path;
	size_t len = w->st->size < 16384 ? 16384 : w->st->size;
	unsigned char *buf = malloc(len);
	uint64_t off = 0;
	int ret = 0;

	if (!buf)
		return bench_fail(w, "out of memory");
	for (;;) {
		ssize_t n = p->recv(w->e, buf, len);

		if (n == 0)
			break;
		if (n < 0) {
			ret = bench_fail(w, "receive at offset %llu: %s", (unsigned long long)off,
					 w->err[0] ? w->err : strerror((int)-n));
			break;
		}
		if (bench_check(w, buf, (size_t)n, off) < 0) {
			ret = -1;
			break;
		}
		off += (uint64_t)n;
		atomic_store_explicit(&w->rx_bytes, off, memory_order_relaxed);
	}
	free(buf);
	return ret;
}

struct thread_slot {
	pthread_t t;
	struct bench_worker w;
	atomic_bool done;
	double end;
};

static void *worker_main(void *arg)
{
	struct thread_slot *s = arg;
	struct bench_worker *w = &s->w;
	const struct bench_path *p = w->st->path;
	int (*duplex)(struct bench_worker *) = w->do_send && w->do_recv && p->both ? p->both : p->duplex;
	double c0;

	pthread_mutex_lock(&w->st->go_lock);
	while (!w->st->go)
		pthread_cond_wait(&w->st->go_cond, &w->st->go_lock);
	pthread_mutex_unlock(&w->st->go_lock);
	c0 = bench_thread_cpu();
	if (duplex)
		duplex(w);
	else if (w->do_send)
		(p->sender ? p->sender : bench_send_loop)(w);
	else
		bench_recv_loop(w);
	w->cpu_s = bench_thread_cpu() - c0;
	s->end = bench_now();
	atomic_store(&s->done, true);
	return NULL;
}

static int make_file(struct bench_stream *st, char *why, size_t len)
{
	char path[] = "/tmp/ktlink-bench-XXXXXX";
	unsigned char *buf = malloc(1 << 20);
	uint64_t off;
	int fd = mkstemp(path);

	if (fd < 0 || !buf) {
		snprintf(why, len, "sendfile source %s: %s", path, strerror(errno));
		free(buf);
		return -1;
	}
	unlink(path);
	for (off = 0; off < FILE_LEN; off += 1 << 20) {
		pattern_fill(buf, 1 << 20, off, pattern_seed(FILE_SEED_STREAM));
		if (pwrite(fd, buf, 1 << 20, (off_t)off) != 1 << 20) {
			snprintf(why, len, "writing the sendfile source: %s", strerror(errno));
			close(fd);
			free(buf);
			return -1;
		}
	}
	free(buf);
	st->file_fd = fd;
	st->file_len = FILE_LEN;
	return 0;
}

/* tx_stream/rx_stream: which stream this worker sends and receives (-1:
 * none); each stream has its own pattern seed, so bytes delivered on the
 * wrong link fail the check. */
static void add_worker(struct thread_slot *slots, unsigned *n, struct bench_stream *st, struct bench_end *e,
		       bool client, int tx_stream, int rx_stream)
{
	struct thread_slot *s = &slots[(*n)++];

	memset(s, 0, sizeof(*s));
	s->w.st = st;
	s->w.e = e;
	s->w.is_client = client;
	s->w.do_send = tx_stream >= 0;
	s->w.do_recv = rx_stream >= 0;
	s->w.tx_stream = tx_stream;
	s->w.rx_stream = rx_stream;
	s->w.tx_seed = st->file_len ? pattern_seed(FILE_SEED_STREAM) : pattern_seed((uint64_t)(tx_stream < 0 ? 0 : tx_stream));
	s->w.rx_seed = st->file_len ? pattern_seed(FILE_SEED_STREAM) : pattern_seed((uint64_t)(rx_stream < 0 ? 0 : rx_stream));
}

/* Every stream must arrive whole: what a sender counted as sent is what
 * its receiver verified.  Catches data lost at the end of a stream, which
 * the pattern check alone cannot see.  0, or -1 with why filled. */
static int match_streams(const struct thread_slot *slots, unsigned n, char *why, size_t len)
{
	for (unsigned i = 0; i < n; i++) {
		const struct bench_worker *tx = &slots[i].w;

		if (tx->tx_stream < 0)
			continue;
		for (unsigned k = 0; k < n; k++) {
			const struct bench_worker *rx = &slots[k].w;
			uint64_t got = atomic_load(&rx->rx_bytes);

			if (rx->rx_stream != tx->tx_stream)
				continue;
			if (got != tx->tx_bytes) {
				snprintf(why, len, "stream %d: %s sent %llu bytes but %s received %llu", tx->tx_stream,
					 tx->is_client ? "client" : "server", (unsigned long long)tx->tx_bytes,
					 rx->is_client ? "client" : "server", (unsigned long long)got);
				return -1;
			}
		}
	}
	return 0;
}

/* After a failed start: stop, release the waiting workers and wake any
 * blocked on a link whose peer thread never ran. */
static void abort_start(struct bench_stream *st, struct bench_end *cli, struct bench_end *srv, unsigned links)
{
	atomic_store(&st->stop, true);
	for (unsigned i = 0; i < links; i++) {
		if (cli[i].fd >= 0)
			shutdown(cli[i].fd, SHUT_RDWR);
		if (srv[i].fd >= 0)
			shutdown(srv[i].fd, SHUT_RDWR);
	}
}

static void release_workers(struct bench_stream *st)
{
	pthread_mutex_lock(&st->go_lock);
	st->go = true;
	pthread_cond_broadcast(&st->go_cond);
	pthread_mutex_unlock(&st->go_lock);
}

static uint64_t rx_total(struct thread_slot *slots, unsigned n)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += atomic_load_explicit(&slots[i].w.rx_bytes, memory_order_relaxed);
	return sum;
}

static void sleep_until(double t)
{
	double d = t - bench_now();
	struct timespec ts;

	if (d <= 0)
		return;
	if (d > 0.01)
		d = 0.01; /* check for finished workers every 10 ms */
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(d * 1e9);
	nanosleep(&ts, NULL);
}

void bench_stream_run(const struct bench_run *run, enum bench_path_id id, size_t size, struct bench_result *r)
{
	const struct bench_opts *o = run->o;
	const struct bench_path *p = bench_path_get(id);
	const char *name = bench_path_names[id];
	unsigned links = o->links, n_slots = 0, n_started = 0, i, opened = 0, n_iv = 0;
	bool both = o->direction == DIR_BOTH;
	struct bench_stream st = { .run = run, .path = p, .size = size, .file_fd = -1,
				   .go_lock = PTHREAD_MUTEX_INITIALIZER, .go_cond = PTHREAD_COND_INITIALIZER };
	struct bench_end *cli = calloc(links, sizeof(*cli)), *srv = calloc(links, sizeof(*srv));
	struct thread_slot *slots = calloc(4 * (size_t)links, sizeof(*slots));
	double t0, next, deadline, last_t, end = 0;
	uint64_t last_bytes = 0;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->id = id;
	r->size = size;
	r->ratio_tcp = r->ratio_openssl = -1;
	first_err[0] = 0;
	atomic_init(&st.stop, false);
	if (!cli || !srv || !slots) {
		snprintf(r->reason, sizeof(r->reason), "out of memory");
		r->failed = true;
		goto out;
	}
	if (p->probe && p->probe(run, r->reason, sizeof(r->reason)) != 0)
		goto out;
	if (id == BP_KTLS_SENDFILE && make_file(&st, r->reason, sizeof(r->reason)) < 0) {
		r->failed = true;
		goto out;
	}
	for (i = 0; i < links; i++) {
		rc = p->open(run, &cli[i], &srv[i], r->reason, sizeof(r->reason));
		if (rc != 0)
			break;
		opened++;
	}
	if (rc > 0)
		goto out; /* unavailable, and the reason says why */
	if (rc < 0) {
		r->failed = true;
		goto out;
	}
	r->available = true;
	if (p->describe)
		p->describe(&cli[0], r->detail, sizeof(r->detail));

	for (i = 0; i < links; i++) {
		/* Stream 2i runs client to server, 2i+1 back. */
		int up = (int)(2 * i), down = both ? (int)(2 * i + 1) : -1;

		if (p->duplex || (both && p->both)) {
			add_worker(slots, &n_slots, &st, &cli[i], true, up, down);
			add_worker(slots, &n_slots, &st, &srv[i], false, down, up);
			continue;
		}
		add_worker(slots, &n_slots, &st, &cli[i], true, up, -1);
		add_worker(slots, &n_slots, &st, &srv[i], false, -1, up);
		if (both) {
			add_worker(slots, &n_slots, &st, &srv[i], false, down, -1);
			add_worker(slots, &n_slots, &st, &cli[i], true, -1, down);
		}
	}
	for (; n_started < n_slots; n_started++) {
		int err = pthread_create(&slots[n_started].t, NULL, worker_main, &slots[n_started]);

		if (err) {
			snprintf(r->reason, sizeof(r->reason), "starting worker thread %u of %u: %s (try fewer --links)",
				 n_started + 1, n_slots, strerror(err));
			r->failed = true;
			abort_start(&st, cli, srv, links);
			break;
		}
	}
	t0 = bench_now();
	release_workers(&st);
	if (r->failed) {
		for (i = 0; i < n_started; i++)
			pthread_join(slots[i].t, NULL);
		goto out;
	}
	next = o->interval_s > 0 ? t0 + o->interval_s : 1e300;
	deadline = t0 + o->time_s;
	last_t = t0;
	r->iv = calloc(BENCH_MAX_INTERVALS, sizeof(*r->iv));
	for (;;) {
		unsigned done = 0;
		double now = bench_now();
		bool last = false;

		for (i = 0; i < n_slots; i++)
			done += atomic_load(&slots[i].done);
		if (done == n_slots)
			break;
		if (!atomic_load(&st.stop) && now >= deadline) {
			atomic_store(&st.stop, true);
			/* The last, partial interval runs up to the stop, as
			 * iperf3 prints it; what drains after the stop is only
			 * in the summary. */
			last = o->interval_s > 0 && now - last_t > 1e-3;
		}
		if (last || (now >= next && next <= deadline + 1e-9)) {
			uint64_t b = rx_total(slots, n_slots);

			/* Labelled with when the bytes were read, not when the
			 * line was due: on a busy machine this thread wakes late. */
			bench_print_interval(name, last_t - t0, now - t0, b - last_bytes);
			if (r->iv && n_iv < BENCH_MAX_INTERVALS)
				r->iv[n_iv++] = (struct bench_interval){ last_t - t0, now - t0, b - last_bytes };
			last_bytes = b;
			last_t = now;
			while (next <= now)
				next += o->interval_s;
			continue;
		}
		sleep_until(atomic_load(&st.stop) ? now + 0.01 : (next < deadline ? next : deadline));
	}
	for (i = 0; i < n_slots; i++) {
		struct bench_worker *w = &slots[i].w;

		pthread_join(slots[i].t, NULL);
		if (slots[i].end > end)
			end = slots[i].end;
		if (w->is_client)
			r->cpu_client += w->cpu_s;
		else
			r->cpu_server += w->cpu_s;
		r->bytes += atomic_load(&w->rx_bytes);
		if (w->failed)
			r->failed = true;
	}
	r->n_iv = n_iv;
	/* Everything received was checked before it was counted. */
	r->verified = r->bytes;
	r->seconds = end - t0;
	if (r->seconds > 0) {
		r->gbit_s = (double)r->bytes * 8 / r->seconds / 1e9;
		r->mb_s = (double)r->bytes / r->seconds / 1e6;
	}
	r->gbit_min = r->gbit_max = r->gbit_s;
	r->runs = 1;
	if (!r->failed && match_streams(slots, n_slots, r->reason, sizeof(r->reason)) < 0)
		r->failed = true;
	else if (r->failed)
		snprintf(r->reason, sizeof(r->reason), "%s", first_err[0] ? first_err : "failed");
out:
	for (i = 0; i < opened; i++) {
		p->close(&cli[i]);
		p->close(&srv[i]);
	}
	if (st.file_fd >= 0)
		close(st.file_fd);
	free(cli);
	free(srv);
	free(slots);
}
