/* SPDX-License-Identifier: MIT */
/* The io_uring engine: short sends, caller buffers reused after on_sent,
 * more work than SQ entries, the peer closing mid-transfer (cleanly and
 * not), many links on one ring, both directions at once, taking a link off
 * the ring mid-stream, and the same over kTLS links where the kernel has
 * kTLS.  Every byte is checked against tu_fill's stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define DEADLINE_S 120

/* ---- one side of many links, driven by one ring --------------------------- */

struct lk {
	struct side *sd;
	struct ktl_conn *c;
	uint32_t tx_seed, rx_seed;
	size_t tx_total, tx_queued, tx_done;
	size_t rx_total, rx_got;      /* rx_total SIZE_MAX: until the peer closes */
	long bad;                     /* first mismatching stream offset, or -1 */
	int closed;                   /* on_close calls */
	int close_code;
	/* sender: a FIFO of caller buffers, each reused only after on_sent */
	uint8_t **bufs;
	size_t *lens;
	unsigned nbufs, head, out;
	unsigned chunk;
	unsigned sends;
	/* echo: received bytes are sent back */
	bool echo;
	struct echo_node *eq_head, *eq_tail;
	bool shut_sent;               /* ktl_ring_shutdown issued */
	bool shut_when_done;          /* shut after tx_total (and rx_total) */
};

struct echo_node {
	struct echo_node *next;
	size_t len;
	uint8_t data[];
};

struct side {
	struct ktl_ring *r;
	struct ktl_ring_params params;
	struct lk *links;
	unsigned n;
	char err[512];
	struct ktl_ring_stats st;
};

static void side_fail(struct side *sd, const char *fmt, ...)
{
	va_list ap;

	if (sd->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(sd->err, sizeof(sd->err), fmt, ap);
	va_end(ap);
}

static size_t chunk_len(struct lk *l, unsigned j)
{
	/* Varying lengths, from 1 byte to a full chunk. */
	size_t n = 1 + ((size_t)j * 7919u + l->tx_seed * 31u) % l->chunk;
	size_t left = l->tx_total - l->tx_queued;

	return n < left ? n : left;
}

static void pump(struct lk *l)
{
	struct side *sd = l->sd;

	while (l->out < l->nbufs && l->tx_queued < l->tx_total) {
		unsigned slot = (l->head + l->out) % l->nbufs;
		size_t n = chunk_len(l, l->sends++);
		int ret;

		tu_fill(l->bufs[slot], n, l->tx_queued, l->tx_seed);
		l->lens[slot] = n;
		ret = ktl_ring_send(sd->r, l->c, l->bufs[slot], n);
		if (ret < 0) {
			side_fail(sd, "ktl_ring_send: %s", ktl_last_error());
			return;
		}
		l->tx_queued += n;
		l->out++;
	}
	if (l->shut_when_done && !l->shut_sent && l->tx_queued == l->tx_total &&
	    (l->rx_total == SIZE_MAX || l->rx_got >= l->rx_total)) {
		l->shut_sent = true;
		if (ktl_ring_shutdown(sd->r, l->c) < 0)
			side_fail(sd, "ktl_ring_shutdown: %s", ktl_last_error());
	}
}

static void on_data(struct ktl_conn *c, void *user, const void *buf, size_t len)
{
	struct lk *l = user;

	if (l->bad < 0) {
		long at = tu_check(buf, len, l->rx_got, l->rx_seed);

		if (at >= 0)
			l->bad = (long)l->rx_got + at;
	}
	if (l->echo) {
		struct echo_node *e = malloc(sizeof(*e) + len);

		assert_non_null(e);
		e->next = NULL;
		e->len = len;
		memcpy(e->data, buf, len);
		if (l->eq_tail)
			l->eq_tail->next = e;
		else
			l->eq_head = e;
		l->eq_tail = e;
		if (ktl_ring_send(l->sd->r, c, e->data, len) < 0)
			side_fail(l->sd, "echo send: %s", ktl_last_error());
	}
	l->rx_got += len;
	if (l->rx_total != SIZE_MAX && l->rx_got > l->rx_total)
		side_fail(l->sd, "link got %zu bytes, expected %zu", l->rx_got, l->rx_total);
	pump(l);
}

static void on_sent(struct ktl_conn *c, void *user, size_t len)
{
	struct lk *l = user;

	if (l->echo) {
		struct echo_node *e = l->eq_head;

		if (!e || e->len != len) {
			side_fail(l->sd, "echo on_sent %zu out of order", len);
			return;
		}
		l->eq_head = e->next;
		if (!l->eq_head)
			l->eq_tail = NULL;
		memset(e->data, 0xee, e->len);
		free(e);
		l->tx_done += len;
		return;
	}
	if (!l->out || l->lens[l->head] != len) {
		side_fail(l->sd, "on_sent(%zu) does not match the oldest send (%zu)", len,
			  l->out ? l->lens[l->head] : 0);
		return;
	}
	/* The ring no longer needs it: scribble over it before reuse, so a
	 * late read by the engine would show up as corrupt data. */
	memset(l->bufs[l->head], 0xa5, l->lens[l->head]);
	l->head = (l->head + 1) % l->nbufs;
	l->out--;
	l->tx_done += len;
	pump(l);
}

static void on_close(struct ktl_conn *c, void *user, int code)
{
	struct lk *l = user;

	l->closed++;
	l->close_code = code;
	ktl_close(c);
	l->c = NULL;
	while (l->eq_head) {
		struct echo_node *e = l->eq_head;

		l->eq_head = e->next;
		free(e);
	}
	l->eq_tail = NULL;
}

static const struct ktl_ring_ops ops = { on_data, on_sent, on_close };

static void lk_init(struct lk *l, struct side *sd, struct ktl_conn *c, unsigned nbufs, unsigned chunk)
{
	memset(l, 0, sizeof(*l));
	l->sd = sd;
	l->c = c;
	l->bad = -1;
	l->nbufs = nbufs;
	l->chunk = chunk;
	l->rx_total = SIZE_MAX;
	if (nbufs) {
		l->bufs = calloc(nbufs, sizeof(*l->bufs));
		l->lens = calloc(nbufs, sizeof(*l->lens));
		for (unsigned i = 0; i < nbufs; i++)
			l->bufs[i] = malloc(chunk);
	}
}

static void lk_free(struct lk *l)
{
	for (unsigned i = 0; i < l->nbufs; i++)
		free(l->bufs[i]);
	free(l->bufs);
	free(l->lens);
	if (l->c)
		ktl_close(l->c);
}

/* Runs the ring until every link closed; on the thread that created it. */
static void side_run(struct side *sd)
{
	time_t end = time(NULL) + DEADLINE_S;
	int ret;

	ret = ktl_ring_new(&sd->r, &sd->params);
	if (ret < 0) {
		side_fail(sd, "ktl_ring_new: %s", ktl_last_error());
		return;
	}
	for (unsigned i = 0; i < sd->n; i++) {
		if (ktl_ring_add(sd->r, sd->links[i].c, &ops, &sd->links[i]) < 0) {
			side_fail(sd, "ktl_ring_add: %s", ktl_last_error());
			break;
		}
		pump(&sd->links[i]);
	}
	while (ktl_ring_count(sd->r) && !sd->err[0]) {
		ret = ktl_ring_run(sd->r, 200);
		if (ret < 0)
			side_fail(sd, "ktl_ring_run: %s", ktl_last_error());
		if (time(NULL) > end)
			side_fail(sd, "ring still has %u links after %d s", ktl_ring_count(sd->r), DEADLINE_S);
	}
	ktl_ring_get_stats(sd->r, &sd->st);
	ktl_ring_free(sd->r);
	sd->r = NULL;
}

static void *side_main(void *arg)
{
	side_run(arg);
	return NULL;
}

/* ---- link set-up -------------------------------------------------------------- */

struct accept_job {
	int lfd;
	unsigned n;
	struct ktl_config *cfg;
	struct ktl_conn **out;
	int fail;
	char err[512];
};

static void *accept_main(void *arg)
{
	struct accept_job *j = arg;

	for (unsigned i = 0; i < j->n; i++) {
		int fd = accept4(j->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0 || ktl_wrap_fd(&j->out[i], j->cfg, fd, KTL_SERVER) < 0) {
			j->fail = 1;
			snprintf(j->err, sizeof(j->err), "server %u: %s", i, ktl_last_error());
			return NULL;
		}
	}
	return NULL;
}

/* n handshaken pairs; the server ends are wrapped on a thread. */
static void make_pairs(unsigned n, enum ktl_ktls_mode mode, unsigned proto, struct ktl_conn **cli,
		       struct ktl_conn **srv)
{
	struct ktl_config *ccfg = tu_config("ecdsa/agency0/node1");
	struct accept_job j = { .n = n, .out = srv };
	uint16_t port;
	pthread_t t;

	j.cfg = tu_config("ecdsa/agency0/node0");
	assert_int_equal(ktl_config_set_ktls(ccfg, mode), 0);
	assert_int_equal(ktl_config_set_ktls(j.cfg, mode), 0);
	if (proto) {
		assert_int_equal(ktl_config_restrict(ccfg, proto, 0), 0);
		assert_int_equal(ktl_config_restrict(j.cfg, proto, 0), 0);
	}
	j.lfd = tu_listen(&port);
	assert_int_equal(pthread_create(&t, NULL, accept_main, &j), 0);
	for (unsigned i = 0; i < n; i++) {
		char p[16];

		snprintf(p, sizeof(p), "%u", port);
		if (ktl_connect(&cli[i], ccfg, "127.0.0.1", p) < 0)
			fail_msg("client %u: %s", i, ktl_last_error());
	}
	pthread_join(t, NULL);
	close(j.lfd);
	if (j.fail)
		fail_msg("%s", j.err);
	ktl_config_free(ccfg);
	ktl_config_free(j.cfg);
}

/* kTLS tests skip where the kernel has none, but fail in the VM run.
 * Returns when both directions run in the kernel; else releases the pairs
 * and skips or fails. */
static void need_ktls(unsigned n, struct ktl_conn **cli, struct ktl_conn **srv)
{
	struct ktl_info info;

	assert_int_equal(ktl_get_info(cli[0], &info), 0);
	if (info.tx_kernel && info.rx_kernel)
		return;
	for (unsigned i = 0; i < n; i++) {
		ktl_close(cli[i]);
		ktl_close(srv[i]);
	}
	free(cli);
	free(srv);
	if (tu_require_ktls())
		fail_msg("kTLS required (KTL_REQUIRE_KTLS=1) but unavailable: tx: %s; rx: %s", info.tx_reason,
			 info.rx_reason);
	print_message("skip: no kTLS here (tx: %s)\n", info.tx_reason);
	skip();
}

/* ---- scenarios --------------------------------------------------------------------- */

/* n links; the client side sends tx bytes per link through the ring and
 * checks the echo; the server side echoes through its own ring.  Both
 * directions carry data at once on every link. */
static void echo_run(unsigned n, enum ktl_ktls_mode mode, unsigned proto, size_t tx, unsigned nbufs,
		     unsigned chunk, const struct ktl_ring_params *cp, const struct ktl_ring_params *sp,
		     struct ktl_ring_stats *cst)
{
	struct ktl_conn **cli = calloc(n, sizeof(*cli)), **srv = calloc(n, sizeof(*srv));
	struct side cs = { .n = n }, ss = { .n = n };
	pthread_t t;

	make_pairs(n, mode, proto, cli, srv);
	if (mode == KTL_KTLS_AUTO)
		need_ktls(n, cli, srv);
	cs.links = calloc(n, sizeof(struct lk));
	ss.links = calloc(n, sizeof(struct lk));
	if (cp)
		cs.params = *cp;
	if (sp)
		ss.params = *sp;
	for (unsigned i = 0; i < n; i++) {
		struct lk *c = &cs.links[i], *s = &ss.links[i];

		lk_init(c, &cs, cli[i], nbufs, chunk);
		c->tx_seed = c->rx_seed = 1000 + i;
		c->tx_total = tx + i * 37;
		c->rx_total = c->tx_total;
		c->shut_when_done = true;
		lk_init(s, &ss, srv[i], 0, 1);
		s->rx_seed = 1000 + i;
		s->echo = true;
	}
	assert_int_equal(pthread_create(&t, NULL, side_main, &ss), 0);
	side_run(&cs);
	pthread_join(t, NULL);
	if (cs.err[0])
		fail_msg("client ring: %s", cs.err);
	if (ss.err[0])
		fail_msg("server ring: %s", ss.err);
	for (unsigned i = 0; i < n; i++) {
		struct lk *c = &cs.links[i], *s = &ss.links[i];

		if (c->bad >= 0 || s->bad >= 0)
			fail_msg("link %u: data mismatch at client %ld / server %ld", i, c->bad, s->bad);
		if (c->rx_got != c->tx_total || s->rx_got != c->tx_total || c->tx_done != c->tx_total ||
		    s->tx_done != c->tx_total)
			fail_msg("link %u: client sent %zu got %zu, server got %zu sent %zu of %zu", i, c->tx_done,
				 c->rx_got, s->rx_got, s->tx_done, c->tx_total);
		if (c->closed != 1 || c->close_code != 0 || s->closed != 1 || s->close_code != 0)
			fail_msg("link %u: on_close client %d (%d) server %d (%d)", i, c->closed, c->close_code,
				 s->closed, s->close_code);
		lk_free(c);
		lk_free(s);
	}
	if (cst)
		*cst = cs.st;
	free(cs.links);
	free(ss.links);
	free(cli);
	free(srv);
}

static void test_echo_one(void **state)
{
	struct ktl_ring_stats st;

	echo_run(1, KTL_KTLS_OFF, 0, 8u << 20, 8, 65536, NULL, NULL, &st);
	/* This kernel (>= 6.0) has a buffer ring and multishot receive. */
	print_message("submits %llu sqes %llu cqes %llu short %llu multishot %llu\n",
		      (unsigned long long)st.submits, (unsigned long long)st.sqes, (unsigned long long)st.cqes,
		      (unsigned long long)st.short_sends, (unsigned long long)st.recv_multishot);
	assert_true(st.sqes >= st.submits);
	assert_int_equal(st.recv_multishot, 1);
	assert_int_equal(st.buf_ring, 1);
	/* 5.18+ (here and in the 6.1 VM): io_uring_enter by registered index. */
	assert_int_equal(st.registered_ring, 1);
	/* A stream's records share SENDs (the batch grows to eight records):
	 * far fewer SQEs than the 512 records of 8 MiB. */
	assert_true(st.sqes < (8u << 20) / 16384 / 2);
}

static void test_echo_tls12(void **state)
{
	echo_run(2, KTL_KTLS_OFF, KTL_TLS12, 2u << 20, 4, 40000, NULL, NULL, NULL);
}

static void test_single_shot(void **state)
{
	struct ktl_ring_params p = { .flags = KTL_RING_SINGLE_SHOT, .buf_size = 4096 };
	struct ktl_ring_stats st;

	echo_run(3, KTL_KTLS_OFF, 0, 1u << 20, 4, 30000, &p, &p, &st);
	assert_int_equal(st.recv_multishot, 0);
	assert_int_equal(st.buf_ring, 0);
}

/* Small shared receive buffers: records span buffers, the buffer ring runs
 * dry under 32 links and receives are re-armed. */
static void test_small_bufs(void **state)
{
	struct ktl_ring_params p = { .buf_size = 4096, .n_bufs = 4 };

	echo_run(32, KTL_KTLS_OFF, 0, 256u << 10, 4, 20000, &p, &p, NULL);
}

static void test_many_links(void **state)
{
	echo_run(200, KTL_KTLS_OFF, 0, 64u << 10, 2, 16384, NULL, NULL, NULL);
}

/* More SQEs wanted per batch than the SQ holds (two per link, 64 links,
 * 4 entries). */
static void test_ring_full(void **state)
{
	struct ktl_ring_params p = { .entries = 4 };
	struct ktl_ring_stats st;

	echo_run(64, KTL_KTLS_OFF, 0, 128u << 10, 16, 4096, &p, &p, &st);
	assert_true(st.submits > 1);
}

/* ---- against a blocking peer ------------------------------------------------------- */

#define SLOW_XFER (4u << 20)

/* Reads slowly in small pieces, so the ring's sends come back short. */
static void slow_reader(struct tu_peer *p, struct ktl_conn *c)
{
	uint8_t buf[3000];
	size_t got = 0;

	p->fn_rc = -1;
	for (;;) {
		ssize_t n = ktl_recv(c, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0) {
			snprintf(p->err, sizeof(p->err), "peer recv: %s", ktl_last_error());
			return;
		}
		if (tu_check(buf, (size_t)n, got, 7) != -1) {
			snprintf(p->err, sizeof(p->err), "peer: mismatch at %zu", got + (size_t)tu_check(buf, (size_t)n, got, 7));
			return;
		}
		got += (size_t)n;
		if ((got / sizeof(buf)) % 64 == 0)
			usleep(200);
	}
	p->fn_rc = got == SLOW_XFER ? 0 : -2;
	if (p->fn_rc)
		snprintf(p->err, sizeof(p->err), "peer got %zu of %u", got, SLOW_XFER);
}

/* One link on a ring in this thread, peer fn on a blocking thread. */
static void peer_run(enum ktl_ktls_mode mode, void (*fn)(struct tu_peer *, struct ktl_conn *), size_t tx,
		     size_t rx, unsigned nbufs, unsigned chunk, int sndbuf, struct side *sd, struct tu_peer *pp)
{
	struct ktl_config *ccfg = tu_config("ecdsa/agency0/node1");
	struct ktl_conn *c = NULL;
	int cfd, sfd;

	pp->cfg = tu_config("ecdsa/agency0/node0");
	assert_int_equal(ktl_config_set_ktls(ccfg, mode), 0);
	assert_int_equal(ktl_config_set_ktls(pp->cfg, mode), 0);
	tu_tcp_pair(&cfd, &sfd);
	if (sndbuf)
		assert_int_equal(setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	pp->fd = sfd;
	pp->role = KTL_SERVER;
	pp->fn = fn;
	tu_peer_start(pp);
	if (ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT) < 0)
		fail_msg("client: %s", ktl_last_error());
	if (mode == KTL_KTLS_AUTO) {
		struct ktl_info info;

		ktl_get_info(c, &info);
		if (!info.tx_kernel || !info.rx_kernel) {
			ktl_close(c);
			tu_peer_join(pp);
			ktl_config_free(ccfg);
			ktl_config_free(pp->cfg);
			if (tu_require_ktls())
				fail_msg("kTLS required but unavailable: %s", info.tx_reason);
			skip();
		}
	}
	sd->n = 1;
	sd->links = calloc(1, sizeof(struct lk));
	lk_init(&sd->links[0], sd, c, nbufs, chunk);
	sd->links[0].tx_seed = 7;
	sd->links[0].rx_seed = 8;
	sd->links[0].tx_total = tx;
	sd->links[0].rx_total = rx;
	sd->links[0].shut_when_done = true;
	side_run(sd);
	tu_peer_join(pp);
	ktl_config_free(ccfg);
	ktl_config_free(pp->cfg);
}

/* nbufs sends of chunk bytes queued at once, a small send buffer and a
 * reader that pauses: sends complete short and must resume in order. */
static void partial_sends(enum ktl_ktls_mode mode, unsigned nbufs, unsigned chunk)
{
	struct side sd = { 0 };
	struct tu_peer pp = { 0 };
	struct lk *l;

	peer_run(mode, slow_reader, SLOW_XFER, SIZE_MAX, nbufs, chunk, 4096, &sd, &pp);
	if (sd.err[0])
		fail_msg("ring: %s", sd.err);
	if (pp.rc || pp.fn_rc)
		fail_msg("peer: %d %d %s", pp.rc, pp.fn_rc, pp.err);
	l = &sd.links[0];
	assert_int_equal(l->tx_done, SLOW_XFER);
	assert_int_equal(l->closed, 1);
	assert_int_equal(l->close_code, 0);
	print_message("short sends: %llu, batched: %llu of %llu sqes\n", (unsigned long long)sd.st.short_sends,
		      (unsigned long long)sd.st.batched_sends, (unsigned long long)sd.st.sqes);
	assert_true(sd.st.short_sends > 0);
	/* kTLS sends queued back to back share one SENDMSG; a partial one
	 * resumes inside whichever send it stopped in. */
	if (mode == KTL_KTLS_AUTO && chunk < 65536)
		assert_true(sd.st.batched_sends > 0);
	else if (mode == KTL_KTLS_OFF)
		assert_int_equal(sd.st.batched_sends, 0);
	lk_free(l);
	free(sd.links);
}

static void test_partial_sends(void **state)
{
	partial_sends(KTL_KTLS_OFF, 4, 1u << 20);
}

#define PEER_XFER (3u << 20)

/* Sends PEER_XFER bytes of seed 8, then ends as arg says. */
static void peer_sender(struct tu_peer *p, struct ktl_conn *c)
{
	uint8_t *buf = malloc(PEER_XFER);

	tu_fill(buf, PEER_XFER, 0, 8);
	if (p->arg == (void *)2) {
		/* Half, then hold the rest until the other side has taken the
		 * link off its ring and says so: the stream must straddle. */
		uint8_t go;

		p->fn_rc = ktl_send(c, buf, PEER_XFER / 2) == (ssize_t)(PEER_XFER / 2) &&
					   ktl_recv(c, &go, 1) == 1 &&
					   ktl_send(c, buf + PEER_XFER / 2, PEER_XFER - PEER_XFER / 2) ==
						   (ssize_t)(PEER_XFER - PEER_XFER / 2)
				   ? 0
				   : -1;
	} else {
		p->fn_rc = ktl_send(c, buf, PEER_XFER) == (ssize_t)PEER_XFER ? 0 : -1;
	}
	if (p->fn_rc)
		snprintf(p->err, sizeof(p->err), "peer send: %s", ktl_last_error());
	free(buf);
	if (p->arg == (void *)1) {
		/* Gone without close_notify: the FIN alone.  Then read until
		 * the ring side closes, so no unread byte turns our close into
		 * a reset that would discard data still in flight. */
		uint8_t b[4096];

		shutdown(ktl_fd(c), SHUT_WR);
		while (recv(ktl_fd(c), b, sizeof(b), 0) > 0)
			;
	} else {
		ktl_shutdown(c);
		/* Wait for the ring side's close_notify. */
		uint8_t b[64];

		while (ktl_recv(c, b, sizeof(b)) > 0)
			;
	}
}

static void peer_close(int truncate, enum ktl_ktls_mode mode)
{
	struct side sd = { 0 };
	struct tu_peer pp = { .arg = (void *)(intptr_t)truncate };
	struct lk *l;

	peer_run(mode, peer_sender, 0, SIZE_MAX, 0, 1, 0, &sd, &pp);
	if (sd.err[0])
		fail_msg("ring: %s", sd.err);
	l = &sd.links[0];
	assert_int_equal(l->bad, -1);
	assert_int_equal(l->rx_got, PEER_XFER);
	assert_int_equal(l->closed, 1);
	if (truncate)
		assert_int_equal(l->close_code, -KTL_E_TRUNCATED);
	else
		assert_int_equal(l->close_code, 0);
	lk_free(l);
	free(sd.links);
}

static void test_peer_close_clean(void **state)
{
	peer_close(0, KTL_KTLS_OFF);
}

static void test_peer_truncates(void **state)
{
	peer_close(1, KTL_KTLS_OFF);
}

/* The peer reads a little, then resets the connection while the ring is
 * still sending: the link ends once, with an error. */
static void peer_abort(struct tu_peer *p, struct ktl_conn *c)
{
	uint8_t buf[65536];
	size_t got = 0;
	struct linger lg = { 1, 0 };

	while (got < (1u << 20)) {
		ssize_t n = ktl_recv(c, buf, sizeof(buf));

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	setsockopt(ktl_fd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	shutdown(ktl_fd(c), SHUT_RDWR);
}

static void test_peer_aborts_mid_send(void **state)
{
	struct side sd = { 0 };
	struct tu_peer pp = { 0 };
	struct lk *l;

	peer_run(KTL_KTLS_OFF, peer_abort, 256u << 20, SIZE_MAX, 4, 1u << 20, 0, &sd, &pp);
	if (sd.err[0])
		fail_msg("ring: %s", sd.err);
	l = &sd.links[0];
	assert_int_equal(l->closed, 1);
	print_message("on_close code %d (%s)\n", l->close_code, ktl_strerror(l->close_code));
	assert_true(l->close_code < 0);
	assert_true(l->tx_done < l->tx_total);
	lk_free(l);
	free(sd.links);
}

/* ---- taking a link off the ring mid-stream --------------------------------------------- */

/* After a stream has grown the send batch, a lone small message must still
 * leave at once: a request/response exchange would otherwise stall. */
#define PP_STREAM (1u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
#define PP_ROUNDS 3

struct pp_state {
	char got[4 * PP_ROUNDS];
	size_t n;
	size_t sent;
	int closed;
};

static void pp_data(struct ktl_conn *c, void *user, const void *buf, size_t len)
{
	struct pp_state *s = user;
	size_t take = len < sizeof(s->got) - s->n ? len : sizeof(s->got) - s->n;

	memcpy(s->got + s->n, buf, take);
	s->n += len;
}

static void pp_sent(struct ktl_conn *c, void *user, size_t len)
{
	((struct pp_state *)user)->sent += len;
}

static void pp_close(struct ktl_conn *c, void *user, int code)
{
	((struct pp_state *)user)->closed = code ? code : 1;
}

static const struct ktl_ring_ops pp_ops = { pp_data, pp_sent, pp_close };

static void pp_peer(struct tu_peer *p, struct ktl_conn *c)
{
	uint8_t *buf = malloc(65536);
	size_t got = 0;

	p->fn_rc = -1;
	while (got < PP_STREAM) {
		ssize_t n = ktl_recv(c, buf, PP_STREAM - got < 65536 ? PP_STREAM - got : 65536);

		if (n <= 0 || tu_check(buf, (size_t)n, got, 9) != -1) {
			snprintf(p->err, sizeof(p->err), "peer: stream at %zu: %zd %s", got, n, ktl_last_error());
			free(buf);
			return;
		}
		got += (size_t)n;
	}
	for (int i = 0; i < PP_ROUNDS; i++) {
		if (ktl_recv(c, buf, 4) != 4 || memcmp(buf, "ping", 4) || ktl_send(c, "pong", 4) != 4) {
			snprintf(p->err, sizeof(p->err), "peer: round %d: %s", i, ktl_last_error());
			free(buf);
			return;
		}
	}
	p->fn_rc = ktl_recv(c, buf, 1) == 0 ? 0 : -2;
	free(buf);
}

static void test_small_send_after_stream(void **state)
{
	struct ktl_config *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer pp = { 0 };
	struct pp_state st = { 0 };
	struct ktl_conn *c = NULL;
	struct ktl_ring *r;
	uint8_t *stream = malloc(PP_STREAM);
	int cfd, sfd;

	pp.cfg = tu_config("ecdsa/agency0/node0");
	assert_int_equal(ktl_config_set_ktls(ccfg, KTL_KTLS_OFF), 0);
	assert_int_equal(ktl_config_set_ktls(pp.cfg, KTL_KTLS_OFF), 0);
	tu_fill(stream, PP_STREAM, 0, 9);
	tu_tcp_pair(&cfd, &sfd);
	pp.fd = sfd;
	pp.role = KTL_SERVER;
	pp.fn = pp_peer;
	tu_peer_start(&pp);
	if (ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT) < 0)
		fail_msg("client: %s", ktl_last_error());
	assert_int_equal(ktl_ring_new(&r, NULL), 0);
	assert_int_equal(ktl_ring_add(r, c, &pp_ops, &st), 0);
	for (size_t off = 0; off < PP_STREAM; off += 16384)
		assert_int_equal(ktl_ring_send(r, c, stream + off, 16384), 0);
	while (st.sent < PP_STREAM && !st.closed)
		assert_true(ktl_ring_run(r, 1000) >= 0);
	assert_int_equal(st.sent, PP_STREAM);
	for (int i = 0; i < PP_ROUNDS; i++) {
		double t0 = now_s();

		assert_int_equal(ktl_ring_send(r, c, "ping", 4), 0);
		while (st.n < 4 * (size_t)(i + 1) && !st.closed && now_s() - t0 < 5)
			assert_true(ktl_ring_run(r, 100) >= 0);
		if (st.n != 4 * (size_t)(i + 1))
			fail_msg("round %d: %zu bytes of reply after %.1f s (closed %d)", i, st.n, now_s() - t0,
				 st.closed);
		assert_memory_equal(st.got + 4 * i, "pong", 4);
	}
	assert_int_equal(ktl_ring_shutdown(r, c), 0);
	while (!st.closed)
		assert_true(ktl_ring_run(r, 1000) >= 0);
	assert_int_equal(st.closed, 1);
	ktl_ring_free(r);
	ktl_close(c);
	tu_peer_join(&pp);
	if (pp.fn_rc)
		fail_msg("peer: %d %s", pp.fn_rc, pp.err);
	ktl_config_free(ccfg);
	ktl_config_free(pp.cfg);
	free(stream);
}

static void test_remove_mid_stream(void **state)
{
	struct ktl_config *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer pp = { .arg = (void *)2 };
	struct ktl_conn *c = NULL;
	struct ktl_ring *r;
	struct side sd = { .n = 1 };
	uint8_t *buf = malloc(1u << 16);
	size_t got;
	int cfd, sfd;

	pp.cfg = tu_config("ecdsa/agency0/node0");
	assert_int_equal(ktl_config_set_ktls(ccfg, KTL_KTLS_OFF), 0);
	tu_tcp_pair(&cfd, &sfd);
	pp.fd = sfd;
	pp.role = KTL_SERVER;
	pp.fn = peer_sender;
	tu_peer_start(&pp);
	if (ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT) < 0)
		fail_msg("client: %s", ktl_last_error());
	sd.links = calloc(1, sizeof(struct lk));
	lk_init(&sd.links[0], &sd, c, 0, 1);
	sd.links[0].rx_seed = 8;
	assert_int_equal(ktl_ring_new(&r, NULL), 0);
	sd.r = r;
	assert_int_equal(ktl_ring_add(r, c, &ops, &sd.links[0]), 0);
	while (sd.links[0].rx_got < (1u << 20))
		assert_true(ktl_ring_run(r, 1000) >= 0);
	assert_int_equal(ktl_ring_remove(r, c), 0);
	assert_int_equal(ktl_ring_count(r), 0);
	ktl_ring_free(r);
	assert_int_equal(ktl_send(c, "g", 1), 1);
	/* The rest of the stream, in order, through the plain calls. */
	got = sd.links[0].rx_got;
	assert_int_equal(sd.links[0].bad, -1);
	while (got < PEER_XFER) {
		ssize_t n = ktl_recv(c, buf, 1u << 16);

		if (n <= 0)
			fail_msg("recv after remove at %zu: %zd %s", got, n, ktl_last_error());
		assert_int_equal(tu_check(buf, (size_t)n, got, 8), -1);
		got += (size_t)n;
	}
	assert_int_equal(ktl_recv(c, buf, 1), 0);
	ktl_close(c);
	tu_peer_join(&pp);
	assert_int_equal(pp.fn_rc, 0);
	ktl_config_free(ccfg);
	ktl_config_free(pp.cfg);
	free(sd.links);
	free(buf);
}

static void test_errors(void **state)
{
	struct ktl_conn *cli[1], *srv[1];
	struct ktl_ring *r;
	static uint8_t b[16];

	make_pairs(1, KTL_KTLS_OFF, 0, cli, srv);
	assert_int_equal(ktl_ring_new(&r, NULL), 0);
	assert_int_equal(ktl_ring_send(r, cli[0], b, sizeof(b)), -ENOENT);
	/* A caller whose link just closed may pass NULL: an error, not a crash. */
	assert_int_equal(ktl_ring_send(r, NULL, b, sizeof(b)), -EINVAL);
	assert_string_equal(ktl_last_error(), "ring: needs a ring and a connection, got no connection");
	assert_int_equal(ktl_ring_send(NULL, cli[0], b, sizeof(b)), -EINVAL);
	assert_string_equal(ktl_last_error(), "ring: needs a ring and a connection, got no ring");
	assert_int_equal(ktl_ring_sendfile(r, NULL, 0, 0, 10), -EINVAL);
	assert_int_equal(ktl_ring_shutdown(r, NULL), -EINVAL);
	assert_int_equal(ktl_ring_remove(r, NULL), -EINVAL);
	assert_int_equal(ktl_ring_remove(NULL, cli[0]), -EINVAL);
	assert_int_equal(ktl_ring_run(NULL, 0), -EINVAL);
	assert_int_equal(ktl_ring_new(NULL, NULL), -EINVAL);
	assert_int_equal(ktl_ring_count(NULL), 0);
	{
		struct ktl_ring_params big = { .buf_size = KTL_RING_BUF_MAX + 1 };
		struct ktl_ring *r2 = (struct ktl_ring *)&big;
		static const struct ktl_ring_ops no_data = { NULL, NULL, NULL };

		assert_int_equal(ktl_ring_new(&r2, &big), -EINVAL);
		assert_null(r2);
		assert_non_null(strstr(ktl_last_error(), "is above"));
		assert_int_equal(ktl_ring_add(r, cli[0], &no_data, NULL), -EINVAL);
		assert_int_equal(ktl_ring_count(r), 0);
		/* One conn, one ring: a second would rewire its transport. */
		assert_int_equal(ktl_ring_new(&r2, NULL), 0);
		assert_int_equal(ktl_ring_add(r2, cli[0], &ops, NULL), 0);
		assert_int_equal(ktl_ring_add(r, cli[0], &ops, NULL), -EBUSY);
		assert_non_null(strstr(ktl_last_error(), "is already on another ring"));
		assert_int_equal(ktl_ring_remove(r2, cli[0]), 0);
		ktl_ring_free(r2);
	}
	assert_int_equal(ktl_ring_add(r, cli[0], &ops, NULL), 0);
	assert_int_equal(ktl_ring_send(r, cli[0], NULL, 5), -EINVAL);
	assert_non_null(strstr(ktl_last_error(), ": ring send of 5 bytes from a NULL buffer"));
	assert_int_equal(ktl_ring_add(r, cli[0], &ops, NULL), -EEXIST);
	assert_int_equal(ktl_ring_sendfile(r, cli[0], 0, 0, 10), -EOPNOTSUPP);
	assert_non_null(strstr(ktl_last_error(), "kernel TLS TX"));
	assert_int_equal(ktl_ring_count(r), 1);
	assert_int_equal(ktl_ring_remove(r, cli[0]), 0);
	assert_int_equal(ktl_ring_count(r), 0);
	/* Off the ring, the link works as before. */
	assert_int_equal(ktl_send(cli[0], "ping", 4), 4);
	assert_int_equal(ktl_recv(srv[0], b, sizeof(b)), 4);
	ktl_ring_free(r);
	ktl_close(cli[0]);
	ktl_close(srv[0]);
}

/* ktl_ring_free from inside on_data: the ring goes when the callback
 * returns, no callback runs after, and what had arrived stays readable. */
struct free_cb {
	struct ktl_ring *r;
	uint8_t *back;
	size_t got;
	int calls;
};

static void free_on_data(struct ktl_conn *c, void *user, const void *buf, size_t len)
{
	struct free_cb *f = user;

	f->calls++;
	memcpy(f->back + f->got, buf, len);
	f->got += len;
	ktl_ring_free(f->r);
}

static void test_free_in_callback(void **state)
{
	static const struct ktl_ring_ops fops = { free_on_data, NULL, NULL };
	struct ktl_conn *cli[1], *srv[1];
	static uint8_t big[100000], back[100000];
	struct free_cb f = { .back = back };
	size_t off = 0;
	int ret;

	make_pairs(1, KTL_KTLS_OFF, 0, cli, srv);
	tu_fill(big, sizeof(big), 0, 7);
	assert_int_equal(ktl_ring_new(&f.r, NULL), 0);
	assert_int_equal(ktl_ring_add(f.r, srv[0], &fops, &f), 0);
	/* Many records in the socket before the ring looks: one buffer
	 * holds several, so on_data would be called again without the guard. */
	for (size_t i = 0; i < sizeof(big); i += 1000)
		assert_int_equal(ktl_send(cli[0], big + i, 1000), 1000);
	do
		ret = ktl_ring_run(f.r, 1000);
	while (ret == 0 && !f.calls);
	assert_true(ret >= 1);
	assert_int_equal(f.calls, 1);
	/* f.r is gone; the conn works without it and nothing was lost. */
	off = f.got;
	while (off < sizeof(big)) {
		ssize_t n = ktl_recv(srv[0], back + off, sizeof(back) - off);

		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_true(f.got < sizeof(big));
	assert_int_equal(tu_check(back, sizeof(back), 0, 7), -1);
	ktl_close(cli[0]);
	ktl_close(srv[0]);
}

/* ktl_ring_free from on_sent: the sends still queued go out (blocking, as
 * ktl_ring_remove does), byte for byte; the conn is off the ring. */
#define FREE_SENDS 10
#define FREE_SEND_LEN 100000

struct reader {
	struct ktl_conn *c;
	size_t got;
	long bad;
};

static void *read_all(void *arg)
{
	struct reader *rd = arg;
	static uint8_t buf[65536];

	rd->bad = -1;
	while (rd->got < FREE_SENDS * FREE_SEND_LEN) {
		ssize_t n = ktl_recv(rd->c, buf, sizeof(buf));

		if (n <= 0)
			break;
		if (rd->bad < 0 && tu_check(buf, (size_t)n, rd->got, 9) >= 0)
			rd->bad = (long)rd->got;
		rd->got += (size_t)n;
	}
	return NULL;
}

static void free_on_sent(struct ktl_conn *c, void *user, size_t len)
{
	struct free_cb *f = user;

	if (f->calls++ == 0)
		ktl_ring_free(f->r);
}

static void ignore_data(struct ktl_conn *c, void *user, const void *buf, size_t len)
{
}

static void test_free_in_on_sent(void **state)
{
	static const struct ktl_ring_ops sops = { ignore_data, free_on_sent, NULL };
	static uint8_t out[FREE_SENDS * FREE_SEND_LEN];
	struct ktl_conn *cli[1], *srv[1];
	struct free_cb f = { 0 };
	struct reader rd;
	pthread_t t;
	int ret;

	make_pairs(1, KTL_KTLS_OFF, 0, cli, srv);
	rd = (struct reader){ .c = cli[0] };
	tu_fill(out, sizeof(out), 0, 9);
	assert_int_equal(ktl_ring_new(&f.r, NULL), 0);
	assert_int_equal(ktl_ring_add(f.r, srv[0], &sops, &f), 0);
	for (int i = 0; i < FREE_SENDS; i++)
		assert_int_equal(ktl_ring_send(f.r, srv[0], out + i * FREE_SEND_LEN, FREE_SEND_LEN), 0);
	assert_int_equal(pthread_create(&t, NULL, read_all, &rd), 0);
	do
		ret = ktl_ring_run(f.r, 1000);
	while (ret >= 0 && !f.calls);
	assert_int_equal(f.calls, 1);
	/* f.r is gone; srv[0] works on its own again. */
	assert_int_equal(ktl_send(srv[0], "!", 1), 1);
	pthread_join(t, NULL);
	assert_int_equal(rd.got, sizeof(out));
	assert_int_equal(rd.bad, -1);
	ktl_close(cli[0]);
	ktl_close(srv[0]);
}

/* ---- kTLS links ------------------------------------------------------------------------------ */

static void test_ktls_echo(void **state)
{
	echo_run(4, KTL_KTLS_AUTO, 0, 4u << 20, 8, 65536, NULL, NULL, NULL);
}

static void test_ktls_echo_tls12(void **state)
{
	echo_run(2, KTL_KTLS_AUTO, KTL_TLS12, 2u << 20, 8, 65536, NULL, NULL, NULL);
}

static void test_ktls_single_shot(void **state)
{
	struct ktl_ring_params p = { .flags = KTL_RING_SINGLE_SHOT, .buf_size = 8192 };

	echo_run(4, KTL_KTLS_AUTO, 0, 1u << 20, 4, 30000, &p, &p, NULL);
}

static void test_ktls_partial_sends(void **state)
{
	partial_sends(KTL_KTLS_AUTO, 4, 1u << 20);
}

static void test_ktls_batched_sends(void **state)
{
	/* Sizes that do not divide a record, so records span sends. */
	partial_sends(KTL_KTLS_AUTO, 24, 5000);
}

static void test_ktls_peer_close_clean(void **state)
{
	peer_close(0, KTL_KTLS_AUTO);
}

static void test_ktls_peer_truncates(void **state)
{
	peer_close(1, KTL_KTLS_AUTO);
}

#define FILE_XFER ((4u << 20) + 12345)

static void file_reader(struct tu_peer *p, struct ktl_conn *c)
{
	uint8_t buf[65536];
	size_t got = 0;

	p->fn_rc = -1;
	for (;;) {
		ssize_t n = ktl_recv(c, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0 || tu_check(buf, (size_t)n, got + 100, 9) != -1) {
			snprintf(p->err, sizeof(p->err), "peer at %zu: %zd %s", got, n, ktl_last_error());
			return;
		}
		got += (size_t)n;
	}
	p->fn_rc = got == FILE_XFER - 100 ? 0 : -2;
	snprintf(p->err, sizeof(p->err), "peer got %zu", got);
}

struct file_side {
	size_t sent;
	int closed, code;
	struct ktl_ring *r;
};

static void f_data(struct ktl_conn *c, void *user, const void *buf, size_t len)
{
}

static void f_sent(struct ktl_conn *c, void *user, size_t len)
{
	struct file_side *f = user;

	f->sent += len;
	ktl_ring_shutdown(f->r, c);
}

static void f_close(struct ktl_conn *c, void *user, int code)
{
	struct file_side *f = user;

	f->closed++;
	f->code = code;
	ktl_close(c);
}

static void test_ktls_sendfile(void **state)
{
	static const struct ktl_ring_ops fops = { f_data, f_sent, f_close };
	struct ktl_config *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer pp = { 0 };
	struct file_side f = { 0 };
	struct ktl_conn *c = NULL;
	struct ktl_info info;
	char path[] = "/tmp/ktl-ring-XXXXXX";
	uint8_t *data = malloc(FILE_XFER);
	time_t end = time(NULL) + DEADLINE_S;
	int cfd, sfd, ffd;

	pp.cfg = tu_config("ecdsa/agency0/node0");
	tu_tcp_pair(&cfd, &sfd);
	pp.fd = sfd;
	pp.role = KTL_SERVER;
	pp.fn = file_reader;
	tu_peer_start(&pp);
	if (ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT) < 0)
		fail_msg("client: %s", ktl_last_error());
	ktl_get_info(c, &info);
	if (!info.tx_kernel) {
		ktl_close(c);
		tu_peer_join(&pp);
		ktl_config_free(ccfg);
		ktl_config_free(pp.cfg);
		free(data);
		if (tu_require_ktls())
			fail_msg("kTLS required but unavailable: %s", info.tx_reason);
		skip();
	}
	ffd = mkstemp(path);
	assert_true(ffd >= 0);
	unlink(path);
	tu_fill(data, FILE_XFER, 0, 9);
	assert_int_equal(write(ffd, data, FILE_XFER), FILE_XFER);
	assert_int_equal(ktl_ring_new(&f.r, NULL), 0);
	assert_int_equal(ktl_ring_add(f.r, c, &fops, &f), 0);
	/* From offset 100 to past the end: the short count is reported. */
	assert_int_equal(ktl_ring_sendfile(f.r, c, ffd, 100, FILE_XFER), 0);
	while (ktl_ring_count(f.r) && time(NULL) < end)
		assert_true(ktl_ring_run(f.r, 200) >= 0);
	ktl_ring_free(f.r);
	tu_peer_join(&pp);
	if (pp.fn_rc)
		fail_msg("%s", pp.err);
	assert_int_equal(f.sent, FILE_XFER - 100);
	assert_int_equal(f.closed, 1);
	assert_int_equal(f.code, 0);
	close(ffd);
	free(data);
	ktl_config_free(ccfg);
	ktl_config_free(pp.cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_free_in_callback),
		cmocka_unit_test(test_free_in_on_sent),
		cmocka_unit_test(test_echo_one),
		cmocka_unit_test(test_echo_tls12),
		cmocka_unit_test(test_single_shot),
		cmocka_unit_test(test_small_bufs),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_many_links),
		cmocka_unit_test(test_partial_sends),
		cmocka_unit_test(test_peer_close_clean),
		cmocka_unit_test(test_peer_truncates),
		cmocka_unit_test(test_peer_aborts_mid_send),
		cmocka_unit_test(test_remove_mid_stream),
		cmocka_unit_test(test_small_send_after_stream),
		cmocka_unit_test(test_ktls_echo),
		cmocka_unit_test(test_ktls_echo_tls12),
		cmocka_unit_test(test_ktls_single_shot),
		cmocka_unit_test(test_ktls_partial_sends),
		cmocka_unit_test(test_ktls_batched_sends),
		cmocka_unit_test(test_ktls_peer_close_clean),
		cmocka_unit_test(test_ktls_peer_truncates),
		cmocka_unit_test(test_ktls_sendfile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
