/* SPDX-License-Identifier: MIT */
/* The kTLS suite: real mutual-auth handshakes, then records through the
 * kernel, checked byte for byte against ktlink, raw GnuTLS, gnutls-serv and
 * gnutls-cli peers.  A test that needs kTLS skips without it, or fails when
 * KTL_REQUIRE_KTLS=1.  KTL_TEST_USERSPACE=1 runs them anyway without the
 * kernel assertions (to debug the tests themselves on a kernel lacking kTLS). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/crypto.h>

#include "ktls_int.h"
#include "testutil.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

struct combo {
	const char *name;
	unsigned proto, cipher;            /* ktlink masks */
	gnutls_protocol_t gproto;
	const char *prio;                  /* same suite for GnuTLS peers */
};

#define PRIO(v, c) "NORMAL:-VERS-ALL:+VERS-" v ":-CIPHER-ALL:+" c
static const struct combo combos[] = {
	{ "TLS1.2-AES-128-GCM", KTL_TLS12, KTL_AES_128_GCM, GNUTLS_TLS1_2, PRIO("TLS1.2", "AES-128-GCM") },
	{ "TLS1.2-AES-256-GCM", KTL_TLS12, KTL_AES_256_GCM, GNUTLS_TLS1_2, PRIO("TLS1.2", "AES-256-GCM") },
	{ "TLS1.2-CHACHA20-POLY1305", KTL_TLS12, KTL_CHACHA20_POLY1305, GNUTLS_TLS1_2,
	  PRIO("TLS1.2", "CHACHA20-POLY1305") },
	{ "TLS1.3-AES-128-GCM", KTL_TLS13, KTL_AES_128_GCM, GNUTLS_TLS1_3, PRIO("TLS1.3", "AES-128-GCM") },
	{ "TLS1.3-AES-256-GCM", KTL_TLS13, KTL_AES_256_GCM, GNUTLS_TLS1_3, PRIO("TLS1.3", "AES-256-GCM") },
	{ "TLS1.3-CHACHA20-POLY1305", KTL_TLS13, KTL_CHACHA20_POLY1305, GNUTLS_TLS1_3,
	  PRIO("TLS1.3", "CHACHA20-POLY1305") },
};
#define NCOMBO (sizeof(combos) / sizeof(combos[0]))
#define C12 (&combos[0])
#define C13 (&combos[3])

static const char *srv_node = "ecdsa/agency0/node0";
static const char *cli_node = "ecdsa/agency0/node1";

/* ---- kernel capability ---------------------------------------------------- */

static int userspace_debug(void)
{
	const char *v = getenv("KTL_TEST_USERSPACE");

	return v && strcmp(v, "1") == 0;
}

/* 1: the kernel takes this combo; 0: run without kernel assertions
 * (KTL_TEST_USERSPACE); otherwise skips or fails and does not return. */
static int need_ktls(const struct combo *k)
{
	struct ktl_support s;
	unsigned mask;

	ktl_probe_support(&s);
	mask = k->proto == KTL_TLS13 ? s.ktls_tls13_ciphers : s.ktls_tls12_ciphers;
	if (s.ktls_ulp && (mask & k->cipher))
		return 1;
	if (tu_require_ktls())
		fail_msg("kTLS required but the kernel does not take %s (ulp=%d: %s)", k->name, s.ktls_ulp,
			 s.ktls_ulp ? "cipher refused" : strerror(s.ktls_ulp_err));
	if (userspace_debug())
		return 0;
	skip();
	return 0;
}

static long tls_stat(const char *name)
{
	FILE *f = fopen("/proc/net/tls_stat", "r");
	char key[64];
	long v, r = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (strcmp(key, name) == 0)
			r = v;
	fclose(f);
	return r;
}

static void expect_path(struct ktl_conn *c, int tx, int rx)
{
	struct ktl_info i;

	assert_int_equal(ktl_get_info(c, &i), 0);
	if (i.tx_kernel != tx || i.rx_kernel != rx)
		fail_msg("expected tx_kernel=%d rx_kernel=%d, got %d (%s) / %d (%s)", tx, rx, i.tx_kernel,
			 i.tx_reason, i.rx_kernel, i.rx_reason);
}

/* ---- ktlink pairs --------------------------------------------------------- */

static struct ktl_config *cfg_for(const char *node, const struct combo *k, enum ktl_ktls_mode m)
{
	struct ktl_config *cfg = tu_config(node);

	assert_int_equal(ktl_config_restrict(cfg, k->proto, k->cipher), 0);
	assert_int_equal(ktl_config_set_ktls(cfg, m), 0);
	return cfg;
}

struct hs {
	pthread_t t;
	struct ktl_config *cfg;
	int fd;
	enum ktl_role role;
	struct ktl_conn *c;
	int rc;
	char err[KTL_MSG_MAX];
};

static void *hs_main(void *a)
{
	struct hs *h = a;

	h->rc = ktl_wrap_fd(&h->c, h->cfg, h->fd, h->role);
	if (h->rc)
		snprintf(h->err, sizeof(h->err), "%s", ktl_last_error());
	return NULL;
}

/* Handshakes a ktlink client on cfd with a ktlink server on sfd. */
static void link_fds(const struct combo *k, enum ktl_ktls_mode cm, enum ktl_ktls_mode sm, int cfd, int sfd,
		     struct ktl_conn **cc, struct ktl_conn **sc)
{
	struct hs srv = { .cfg = cfg_for(srv_node, k, sm), .fd = sfd, .role = KTL_SERVER };
	struct ktl_config *ccfg = cfg_for(cli_node, k, cm);
	int rc;

	assert_int_equal(pthread_create(&srv.t, NULL, hs_main, &srv), 0);
	rc = ktl_wrap_fd(cc, ccfg, cfd, KTL_CLIENT);
	char cerr[KTL_MSG_MAX];

	snprintf(cerr, sizeof(cerr), "%s", ktl_last_error());
	pthread_join(srv.t, NULL);
	ktl_config_free(ccfg);
	ktl_config_free(srv.cfg);
	if (rc || srv.rc)
		fail_msg("handshake: client %d (%s), server %d (%s)", rc, cerr, srv.rc, srv.err);
	*sc = srv.c;
}

static void link_pair(const struct combo *k, enum ktl_ktls_mode cm, enum ktl_ktls_mode sm, struct ktl_conn **cc,
		      struct ktl_conn **sc)
{
	int cfd, sfd;

	tu_tcp_pair(&cfd, &sfd);
	link_fds(k, cm, sm, cfd, sfd, cc, sc);
}

/* ---- transfers (threads only record; the test thread asserts) ------------ */

/* gnutls-serv's echo treats each record as a C string: text streams have no
 * NUL and a newline now and then, and are still a function of the offset. */
static void fill(uint8_t *buf, size_t len, uint64_t off, uint32_t seed, int text)
{
	tu_fill(buf, len, off, seed);
	if (!text)
		return;
	for (size_t i = 0; i < len; i++)
		buf[i] = (off + i) % 100 == 99 ? '\n' : (uint8_t)(0x21 + buf[i] % 90);
}

static long check(const uint8_t *buf, size_t len, uint64_t off, uint32_t seed, int text)
{
	uint8_t tmp[4096];

	if (!text)
		return tu_check(buf, len, off, seed);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);

		fill(tmp, n, off + done, seed, 1);
		for (size_t i = 0; i < n; i++)
			if (tmp[i] != buf[done + i])
				return (long)(done + i);
		done += n;
	}
	return -1;
}

struct tx {
	pthread_t t;
	struct ktl_conn *c;
	size_t total, chunk;
	uint32_t seed;
	int shut;                          /* ktl_shutdown when done */
	int text;
	ssize_t rc;
	char err[KTL_MSG_MAX];
};

static void *tx_main(void *a)
{
	struct tx *x = a;
	size_t chunk = x->chunk ? x->chunk : 64 * KIB;
	uint8_t *buf = malloc(chunk);

	x->rc = 0;
	for (size_t off = 0; buf && off < x->total;) {
		size_t n = x->total - off < chunk ? x->total - off : chunk;
		ssize_t r;

		fill(buf, n, off, x->seed, x->text);
		r = ktl_send(x->c, buf, n);
		if (r != (ssize_t)n) {
			x->rc = r < 0 ? r : -EIO;
			snprintf(x->err, sizeof(x->err), "%s", ktl_last_error());
			break;
		}
		off += n;
	}
	free(buf);
	if (x->rc == 0 && x->shut && (x->rc = ktl_shutdown(x->c)) < 0)
		snprintf(x->err, sizeof(x->err), "%s", ktl_last_error());
	return NULL;
}

struct rx {
	pthread_t t;
	struct ktl_conn *c;
	size_t total, bufsize;
	uint32_t seed;
	size_t got;
	long bad;                          /* first mismatching offset or -1 */
	ssize_t end;                       /* ktl_recv after total: 0 for close_notify */
	int want_end;
	int text;
	char err[KTL_MSG_MAX];
};

static void *rx_main(void *a)
{
	struct rx *x = a;
	size_t bs = x->bufsize ? x->bufsize : 64 * KIB;
	uint8_t *buf = malloc(bs);

	x->got = 0;
	x->bad = -1;
	x->end = 1;
	while (buf && x->got < x->total) {
		size_t want = x->total - x->got < bs ? x->total - x->got : bs;
		ssize_t r = ktl_recv(x->c, buf, want);
		long b;

		if (r <= 0) {
			x->end = r;
			snprintf(x->err, sizeof(x->err), "%s", ktl_last_error());
			free(buf);
			return NULL;
		}
		b = check(buf, (size_t)r, x->got, x->seed, x->text);
		if (b >= 0 && x->bad < 0)
			x->bad = (long)x->got + b;
		x->got += (size_t)r;
	}
	if (x->want_end) {
		x->end = ktl_recv(x->c, buf, bs);
		if (x->end != 0)
			snprintf(x->err, sizeof(x->err), "%s", ktl_last_error());
	}
	free(buf);
	return NULL;
}

static void tx_start(struct tx *x) { assert_int_equal(pthread_create(&x->t, NULL, tx_main, x), 0); }
static void rx_start(struct rx *x) { assert_int_equal(pthread_create(&x->t, NULL, rx_main, x), 0); }

static void tx_join(struct tx *x)
{
	pthread_join(x->t, NULL);
	if (x->rc < 0)
		fail_msg("send: %zd %s", x->rc, x->err);
}

static void rx_join(struct rx *x)
{
	pthread_join(x->t, NULL);
	if (x->got != x->total)
		fail_msg("recv: got %zu of %zu bytes, ended with %zd: %s", x->got, x->total, x->end, x->err);
	if (x->bad >= 0)
		fail_msg("recv: byte %ld differs from what was sent", x->bad);
	if (x->want_end && x->end != 0)
		fail_msg("recv: expected close_notify (0), got %zd: %s", x->end, x->err);
}

/* a -> b, then b sees close_notify. */
static void one_way(struct ktl_conn *a, struct ktl_conn *b, size_t total, size_t wchunk, size_t rbuf,
		    uint32_t seed)
{
	struct tx t = { .c = a, .total = total, .chunk = wchunk, .seed = seed, .shut = 1 };
	struct rx r = { .c = b, .total = total, .bufsize = rbuf, .seed = seed, .want_end = 1 };

	tx_start(&t);
	rx_start(&r);
	tx_join(&t);
	rx_join(&r);
}

/* Both directions at once, each ending with close_notify. */
static void both_ways(struct ktl_conn *a, struct ktl_conn *b, size_t total, size_t wchunk, size_t rbuf)
{
	struct tx ta = { .c = a, .total = total, .chunk = wchunk, .seed = 11, .shut = 1 };
	struct tx tb = { .c = b, .total = total, .chunk = wchunk, .seed = 22, .shut = 1 };
	struct rx ra = { .c = a, .total = total, .bufsize = rbuf, .seed = 22, .want_end = 1 };
	struct rx rb = { .c = b, .total = total, .bufsize = rbuf, .seed = 11, .want_end = 1 };

	tx_start(&ta);
	tx_start(&tb);
	rx_start(&ra);
	rx_start(&rb);
	tx_join(&ta);
	tx_join(&tb);
	rx_join(&ra);
	rx_join(&rb);
}

/* ---- kernel on both ends ------------------------------------------------- */

static void kernel_both(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	long tx0 = tls_stat("TlsTxSw"), rx0 = tls_stat("TlsRxSw");
	static const size_t sizes[] = { 1, 16383, 16384, 16385 };
	struct ktl_conn *c, *s;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
		if (kern) {
			expect_path(c, 1, 1);
			expect_path(s, 1, 1);
		}
		both_ways(c, s, sizes[i], 0, 0);
		assert_int_equal(ktl_close(c), 0);
		assert_int_equal(ktl_close(s), 0);
	}
	/* 1 MiB both ways at once, written in odd chunks. */
	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	both_ways(c, s, MIB, 40000, 0);
	ktl_close(c);
	ktl_close(s);
	if (kern && tx0 >= 0) {
		long dtx = tls_stat("TlsTxSw") - tx0, drx = tls_stat("TlsRxSw") - rx0;

		print_message("    tls_stat: TlsTxSw +%ld TlsRxSw +%ld for 5 links\n", dtx, drx);
		assert_true(dtx >= 10);
		assert_true(drx >= 10);
	}
}

/* Reader buffers smaller than a record, and 1-byte writes. */
static void small_reads(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	struct ktl_conn *c, *s;

	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	if (kern)
		expect_path(s, 1, 1);
	one_way(c, s, 100000, 16384, 100, 3);
	one_way(s, c, 3000, 1, 7, 4);
	ktl_close(c);
	ktl_close(s);
}

static void big(void **state)
{
	const struct combo *k = *state;
	struct ktl_conn *c, *s;
	struct timespec t0, t1;

	need_ktls(k);
	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	one_way(c, s, 64 * MIB, 256 * KIB, 256 * KIB, 5);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("    64 MiB %s in %.2f s\n", k->name,
		      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	ktl_close(c);
	ktl_close(s);
}

/* ---- kernel on one end, GnuTLS on the other ---------------------------- */

static void kernel_client_user_server(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	struct ktl_conn *c, *s;

	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_OFF, &c, &s);
	if (kern)
		expect_path(c, 1, 1);
	expect_path(s, 0, 0);
	both_ways(c, s, MIB, 0, 0);
	ktl_close(c);
	ktl_close(s);
}

static void user_client_kernel_server(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	struct ktl_conn *c, *s;

	link_pair(k, KTL_KTLS_OFF, kern ? KTL_KTLS_REQUIRE : KTL_KTLS_AUTO, &c, &s);
	expect_path(c, 0, 0);
	if (kern)
		expect_path(s, 1, 1);
	both_ways(c, s, MIB, 30000, 5000);
	ktl_close(c);
	ktl_close(s);
}

/* One direction refused by the "kernel": the ULP stays on, the other
 * direction's raw records pass through it to and from GnuTLS. */
static void mixed_dir(const struct combo *k, unsigned fault)
{
	int kern = need_ktls(k);
	struct ktl_conn *c, *s;

	ktl_ktls_fault = fault;
	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	ktl_ktls_fault = 0;
	if (kern) {
		expect_path(c, !(fault & KTL_FAULT_TX), !(fault & KTL_FAULT_RX));
		expect_path(s, !(fault & KTL_FAULT_TX), !(fault & KTL_FAULT_RX));
	}
	both_ways(c, s, MIB, 0, 0);
	ktl_close(c);
	ktl_close(s);
}

static void tx_kernel_rx_user(void **state) { mixed_dir(*state, KTL_FAULT_RX); }
static void rx_kernel_tx_user(void **state) { mixed_dir(*state, KTL_FAULT_TX); }

/* REQUIRE turns a refusal into a failed link with a reason. */
static void require_refused(void **state)
{
	const struct combo *k = *state;
	struct ktl_support sup0;

	ktl_probe_support(&sup0);
	if (!sup0.ktls_ulp) {
		/* No kTLS at all: refused when configured, before any link. */
		struct ktl_config *cfg = tu_config(cli_node);

		assert_int_equal(ktl_config_set_ktls(cfg, KTL_KTLS_REQUIRE), -KTL_E_KTLS_UNAVAILABLE);
		assert_non_null(strstr(ktl_last_error(), "kTLS required, but this kernel has no kTLS"));
		ktl_config_free(cfg);
		return;
	}
	struct hs srv = { .cfg = cfg_for(srv_node, k, KTL_KTLS_AUTO), .role = KTL_SERVER };
	struct ktl_config *ccfg = cfg_for(cli_node, k, KTL_KTLS_REQUIRE);
	struct ktl_support sup;
	struct ktl_conn *c = NULL;
	int cfd, rc;

	ktl_probe_support(&sup);
	if (sup.ktls_ulp)
		ktl_ktls_fault = KTL_FAULT_RX;
	tu_tcp_pair(&cfd, &srv.fd);
	assert_int_equal(pthread_create(&srv.t, NULL, hs_main, &srv), 0);
	rc = ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT);
	pthread_join(srv.t, NULL);
	ktl_ktls_fault = 0;
	assert_int_equal(rc, -KTL_E_KTLS_UNAVAILABLE);
	assert_null(c);
	print_message("    %s\n", ktl_last_error());
	assert_non_null(strstr(ktl_last_error(), "kTLS required"));
	ktl_close(srv.c);
	ktl_config_free(ccfg);
	ktl_config_free(srv.cfg);
}

/* AUTO without a kernel: user space, and the reason says why. */
static void auto_without_kernel(void **state)
{
	struct ktl_support sup;
	struct ktl_conn *c, *s;
	struct ktl_info i;

	ktl_probe_support(&sup);
	if (sup.ktls_ulp)
		skip();
	link_pair(C13, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	ktl_get_info(c, &i);
	assert_int_equal(i.tx_kernel, 0);
	assert_non_null(strstr(i.tx_reason, "TCP_ULP"));
	one_way(c, s, 20000, 0, 0, 9);
	ktl_close(c);
	ktl_close(s);
}

/* Once a direction is in the kernel GnuTLS cannot touch it: a stray
 * gnutls_record_send/recv fails without disturbing the stream. */
static void gnutls_guarded(void **state)
{
	const struct combo *k = *state;
	struct ktl_conn *c, *s;
	uint8_t b[16];

	if (!need_ktls(k))
		skip();
	/* Both directions in the kernel: the GnuTLS session is gone. */
	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	expect_path(c, 1, 1);
	assert_null(c->s);
	assert_null(s->s);
	one_way(c, s, 50000, 0, 0, 131);
	ktl_close(c);
	ktl_close(s);

	/* One direction in the kernel: GnuTLS keeps the other and is
	 * locked out of the kernel's. */
	ktl_ktls_fault = KTL_FAULT_RX;
	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	ktl_ktls_fault = 0;
	expect_path(c, 1, 0);
	assert_int_equal(gnutls_record_send(c->s, "stray", 5), GNUTLS_E_PUSH_ERROR);
	ktl_close(c);
	ktl_close(s);
	ktl_ktls_fault = KTL_FAULT_TX;
	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	ktl_ktls_fault = 0;
	expect_path(s, 0, 1);
	assert_int_equal(gnutls_record_recv(s->s, b, sizeof(b)), GNUTLS_E_PULL_ERROR);
	ktl_close(c);
	ktl_close(s);
}

/* ---- the socket itself --------------------------------------------------- */

static void sendfile_tx(void **state)
{
	const struct combo *k = *state;
	char path[] = "/tmp/ktls-sendfile-XXXXXX";
	const size_t total = MIB + 7;
	struct ktl_conn *c, *s;
	uint8_t *buf;
	int fd;

	if (!need_ktls(k))
		skip();
	fd = mkstemp(path);
	buf = malloc(total);
	assert_true(fd >= 0 && buf);
	unlink(path);
	tu_fill(buf, total, 0, 31);
	assert_int_equal(write(fd, buf, total), (ssize_t)total);
	free(buf);
	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	struct rx r = { .c = s, .total = total, .seed = 31, .want_end = 1 };

	rx_start(&r);
	for (off_t off = 0; off < (off_t)total;) {
		ssize_t n = sendfile(ktl_fd(c), fd, &off, total - (size_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
	}
	assert_int_equal(ktl_shutdown(c), 0);
	rx_join(&r);
	close(fd);
	ktl_close(c);
	ktl_close(s);
}

struct pipe_writer {
	pthread_t t;
	int fd;
	size_t total;
};

static void *pipe_writer_main(void *a)
{
	struct pipe_writer *w = a;
	uint8_t buf[5000];

	for (size_t off = 0; off < w->total;) {
		size_t n = w->total - off < sizeof(buf) ? w->total - off : sizeof(buf);
		ssize_t r;

		tu_fill(buf, n, off, 41);
		r = write(w->fd, buf, n);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(w->fd);
	return NULL;
}

static void splice_tx(void **state)
{
	const struct combo *k = *state;
	const size_t total = MIB + 333;
	struct ktl_conn *c, *s;
	int p[2];

	if (!need_ktls(k))
		skip();
	assert_int_equal(pipe(p), 0);
	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	struct rx r = { .c = s, .total = total, .seed = 41, .want_end = 1 };
	struct pipe_writer w = { .fd = p[1], .total = total };

	rx_start(&r);
	assert_int_equal(pthread_create(&w.t, NULL, pipe_writer_main, &w), 0);
	for (;;) {
		ssize_t n = splice(p[0], NULL, ktl_fd(c), NULL, 64 * KIB, 0);

		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0)
			break;
	}
	pthread_join(w.t, NULL);
	close(p[0]);
	assert_int_equal(ktl_shutdown(c), 0);
	rx_join(&r);
	ktl_close(c);
	ktl_close(s);
}

/* ---- endings ---------------------------------------------------------------- */

static void truncated(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	struct ktl_conn *c, *s;
	struct tx t;
	struct rx r;

	link_pair(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, &c, &s);
	if (kern)
		expect_path(s, 1, 1);
	t = (struct tx){ .c = c, .total = 5000, .seed = 6 };
	r = (struct rx){ .c = s, .total = 5000, .seed = 6 };
	tx_start(&t);
	rx_start(&r);
	tx_join(&t);
	rx_join(&r);
	/* FIN without close_notify. */
	shutdown(ktl_fd(c), SHUT_WR);
	char b[100];
	ssize_t n = ktl_recv(s, b, sizeof(b));

	assert_int_equal(n, -KTL_E_TRUNCATED);
	print_message("    %s\n", ktl_last_error());
	ktl_close(c);
	ktl_close(s);
}

/* ---- raw GnuTLS peers --------------------------------------------------- */

/* A GnuTLS session that is not ktlink: it can hold a whole flight back and
 * send it with the first application record, send alerts, KeyUpdates, and
 * hand-made TLS 1.3 records. */
struct raw {
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
	int fd;
	int hold;
	uint8_t *out;
	size_t out_len, out_cap;
	pthread_t t;
	int rc;
	size_t early;                      /* hold: app bytes sent with the last flight */
	uint32_t early_seed;
	size_t held;                       /* handshake bytes still held at its end */
};

static int raw_flush(struct raw *r)
{
	size_t off = 0;

	while (off < r->out_len) {
		ssize_t n = send(r->fd, r->out + off, r->out_len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		off += (size_t)n;
	}
	r->out_len = 0;
	return 0;
}

static ssize_t raw_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct raw *r = p;

	if (!r->hold)
		return send(r->fd, buf, len, MSG_NOSIGNAL);
	if (r->out_len + len > r->out_cap) {
		size_t cap = (r->out_len + len) * 2;
		uint8_t *nb = realloc(r->out, cap);

		if (!nb) {
			errno = ENOMEM;
			return -1;
		}
		r->out = nb;
		r->out_cap = cap;
	}
	memcpy(r->out + r->out_len, buf, len);
	r->out_len += len;
	return (ssize_t)len;
}

static ssize_t raw_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct raw *r = p;

	/* Our flight must be out before we wait for the peer's. */
	if (r->out_len && raw_flush(r) < 0)
		return -1;
	return recv(r->fd, buf, len, 0);
}

static void raw_init(struct raw *r, const struct combo *k, int fd, enum ktl_role role, const char *node, int hold)
{
	char crt[512], key[512];

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->hold = hold;
	snprintf(crt, sizeof(crt), "%s/node.crt", tu_fixture(node));
	snprintf(key, sizeof(key), "%s/node.key", tu_fixture(node));
	assert_int_equal(gnutls_certificate_allocate_credentials(&r->cred), 0);
	assert_int_equal(gnutls_certificate_set_x509_key_file(r->cred, crt, key, GNUTLS_X509_FMT_PEM), 0);
	assert_int_equal(gnutls_init(&r->s, role == KTL_SERVER ? GNUTLS_SERVER : GNUTLS_CLIENT), 0);
	assert_int_equal(gnutls_priority_set_direct(r->s, k->prio, NULL), 0);
	assert_int_equal(gnutls_credentials_set(r->s, GNUTLS_CRD_CERTIFICATE, r->cred), 0);
	if (role == KTL_SERVER)
		gnutls_certificate_server_set_request(r->s, GNUTLS_CERT_REQUEST);
	gnutls_transport_set_ptr(r->s, r);
	gnutls_transport_set_push_function(r->s, raw_push);
	gnutls_transport_set_pull_function(r->s, raw_pull);
}

static void *raw_hs_main(void *a)
{
	struct raw *r = a;

	uint8_t buf[4096];

	do {
		r->rc = gnutls_handshake(r->s);
	} while (r->rc < 0 && !gnutls_error_is_fatal(r->rc));
	if (r->rc < 0 || !r->hold)
		return NULL;
	/* The peer waits for our last flight, so it goes now, and with it
	 * the first application record, in one send(). */
	r->held = r->out_len;
	for (size_t off = 0; off < r->early;) {
		size_t n = r->early - off < sizeof(buf) ? r->early - off : sizeof(buf);
		ssize_t w;

		tu_fill(buf, n, off, r->early_seed);
		w = gnutls_record_send(r->s, buf, n);
		if (w <= 0) {
			r->rc = (int)w;
			return NULL;
		}
		off += (size_t)w;
	}
	if (raw_flush(r) < 0)
		r->rc = GNUTLS_E_PUSH_ERROR;
	r->hold = 0;
	return NULL;
}

static void raw_free(struct raw *r)
{
	gnutls_deinit(r->s);
	gnutls_certificate_free_credentials(r->cred);
	free(r->out);
	close(r->fd);
}

/* A ktlink end (role) against a raw GnuTLS end; both handshakes done. */
static struct ktl_conn *raw_link(const struct combo *k, struct raw *r, enum ktl_role kt_role, size_t early)
{
	int hold = early > 0;
	int cfd, sfd, rc;
	struct ktl_conn *c = NULL;
	struct ktl_config *cfg;

	tu_tcp_pair(&cfd, &sfd);
	if (kt_role == KTL_SERVER) {
		raw_init(r, k, cfd, KTL_CLIENT, cli_node, hold);
		cfg = cfg_for(srv_node, k, KTL_KTLS_AUTO);
	} else {
		raw_init(r, k, sfd, KTL_SERVER, srv_node, hold);
		cfg = cfg_for(cli_node, k, KTL_KTLS_AUTO);
	}
	r->early = early;
	r->early_seed = 51;
	assert_int_equal(pthread_create(&r->t, NULL, raw_hs_main, r), 0);
	rc = ktl_wrap_fd(&c, cfg, kt_role == KTL_SERVER ? sfd : cfd, kt_role);
	if (rc)
		print_message("    ktlink: %s\n", ktl_last_error());
	pthread_join(r->t, NULL);
	ktl_config_free(cfg);
	if (r->rc < 0)
		fail_msg("raw GnuTLS handshake: %s", gnutls_strerror(r->rc));
	assert_int_equal(rc, 0);
	return c;
}

static void raw_send_data(struct raw *r, size_t total, uint32_t seed)
{
	uint8_t buf[16384];

	for (size_t off = 0; off < total;) {
		size_t n = total - off < sizeof(buf) ? total - off : sizeof(buf);
		ssize_t w;

		tu_fill(buf, n, off, seed);
		do {
			w = gnutls_record_send(r->s, buf, n);
		} while (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED);
		assert_true(w > 0);
		off += (size_t)w;
	}
}

static void expect_data(struct ktl_conn *c, size_t total, uint32_t seed, size_t bufsize)
{
	struct rx r = { .c = c, .total = total, .bufsize = bufsize, .seed = seed };

	rx_main(&r);
	if (r.got != total || r.bad >= 0)
		fail_msg("got %zu of %zu (bad at %ld, end %zd: %s)", r.got, total, r.bad, r.end, r.err);
}

/* The peer's last handshake flight and its first application record
 * arrive in one TCP segment: nothing may be lost in the hand-off. */
static void data_with_finished(void **state)
{
	const struct combo *k = *state;
	/* TLS 1.3: the client flies last; TLS 1.2: the server does. */
	enum ktl_role kt = k->gproto == GNUTLS_TLS1_3 ? KTL_SERVER : KTL_CLIENT;
	int kern = need_ktls(k);
	struct raw r;
	struct ktl_conn *c;

	c = raw_link(k, &r, kt, 3000);
	assert_true(r.held > 0);
	if (kern)
		expect_path(c, 1, 1);
	expect_data(c, 3000, 51, 0);
	ktl_close(c);
	raw_free(&r);
}

/* A hand-made TLS 1.3 record under the raw session's write key. */
static void raw_record13(struct raw *r, uint8_t type, const uint8_t *data, size_t len)
{
	gnutls_datum_t mac, iv, key;
	unsigned char seq[8], nonce[12];
	gnutls_aead_cipher_hd_t h;
	uint8_t in[512], rec[5 + 512 + 16];
	size_t clen = sizeof(rec) - 5;
	uint64_t sn = 0;

	assert_true(len + 1 <= sizeof(in));
	assert_int_equal(gnutls_record_get_state(r->s, 0, &mac, &iv, &key, seq), 0);
	assert_int_equal(iv.size, 12);
	memcpy(nonce, iv.data, 12);
	for (int i = 0; i < 8; i++) {
		nonce[4 + i] ^= seq[i];
		sn = sn << 8 | seq[i];
	}
	memcpy(in, data, len);
	in[len] = type;                                 /* TLSInnerPlaintext */
	rec[0] = KTL_CT_DATA;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)((len + 1 + 16) >> 8);
	rec[4] = (uint8_t)(len + 1 + 16);
	assert_int_equal(gnutls_aead_cipher_init(&h, gnutls_cipher_get(r->s), &key), 0);
	assert_int_equal(gnutls_aead_cipher_encrypt(h, nonce, 12, rec, 5, 16, in, len + 1, rec + 5, &clen), 0);
	gnutls_aead_cipher_deinit(h);
	assert_int_equal(send(r->fd, rec, 5 + clen, MSG_NOSIGNAL), (ssize_t)(5 + clen));
	sn++;
	for (int i = 7; i >= 0; i--, sn >>= 8)
		seq[i] = (uint8_t)sn;
	assert_int_equal(gnutls_record_set_state(r->s, 0, seq), 0);
}

/* Post-handshake messages on kTLS RX are eaten, never surfaced as EIO:
 * a NewSessionTicket alone, two in one record, one split over two. */
static void tickets_then_data(void **state)
{
	const struct combo *k = *state;
	uint8_t nst[64] = { 4, 0, 0, 0 }, two[128];
	size_t body = 4 + 4 + 1 + 8 + 2 + 16 + 2, n = 4 + body;
	struct raw r;
	struct ktl_conn *c;

	if (!need_ktls(k))
		skip();      /* GnuTLS in user space rejects unsolicited tickets */
	nst[3] = (uint8_t)body;
	nst[4 + 8] = 8;                                 /* nonce<1> */
	nst[4 + 17 + 1] = 16;                           /* ticket<2> */
	c = raw_link(k, &r, KTL_CLIENT, 0);
	expect_path(c, 1, 1);
	raw_send_data(&r, 100, 61);
	raw_record13(&r, KTL_CT_HANDSHAKE, nst, n);
	memcpy(two, nst, n);
	memcpy(two + n, nst, n);
	raw_record13(&r, KTL_CT_HANDSHAKE, two, 2 * n);
	raw_record13(&r, KTL_CT_HANDSHAKE, nst, 10);
	raw_record13(&r, KTL_CT_HANDSHAKE, nst + 10, n - 10);
	/* The stream resumes exactly where it left off. */
	uint8_t buf[16384];

	for (size_t off = 100; off < 5000; off += 1000) {
		tu_fill(buf, 1000, off, 61);
		assert_int_equal(gnutls_record_send(r.s, buf, 1000), 1000);
	}
	expect_data(c, 5000, 61, 0);
	ktl_close(c);
	raw_free(&r);
}

/* The 6.1 kernel cannot rekey: a KeyUpdate ends the link with a clear
 * error and nothing sent under the new key is delivered. */
static void key_update(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	struct raw r;
	struct ktl_conn *c;
	uint8_t buf[4096];
	ssize_t n;

	c = raw_link(k, &r, KTL_CLIENT, 0);
	raw_send_data(&r, 2000, 71);
	assert_int_equal(gnutls_session_key_update(r.s, 0), 0);
	raw_send_data(&r, 2000, 72);
	expect_data(c, 2000, 71, 0);
	n = ktl_recv(c, buf, sizeof(buf));
	if (!kern) {
		/* GnuTLS in user space follows the new key. */
		assert_true(n > 0);
		assert_int_equal(tu_check(buf, (size_t)n, 0, 72), -1);
	} else {
		print_message("    %s\n", ktl_last_error());
		assert_int_equal(n, -KTL_E_KEY_UPDATE);
		assert_int_equal(ktl_recv(c, buf, sizeof(buf)), -KTL_E_KEY_UPDATE);
	}
	ktl_close(c);
	raw_free(&r);
}

static void peer_alert(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	struct raw r;
	struct ktl_conn *c;
	uint8_t buf[100];

	c = raw_link(k, &r, KTL_SERVER, 0);
	if (kern)
		expect_path(c, 1, 1);
	raw_send_data(&r, 10, 81);
	assert_int_equal(gnutls_alert_send(r.s, GNUTLS_AL_FATAL, GNUTLS_A_ILLEGAL_PARAMETER), 0);
	expect_data(c, 10, 81, 0);
	assert_int_equal(ktl_recv(c, buf, sizeof(buf)), -KTL_E_PEER_ALERT);
	print_message("    %s\n", ktl_last_error());
	assert_non_null(strcasestr(ktl_last_error(), "illegal"));
	ktl_close(c);
	raw_free(&r);
}

/* close_notify from a GnuTLS peer reads as 0; ours reads as EOF there. */
static void close_notify_raw(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	struct raw r;
	struct ktl_conn *c;
	uint8_t buf[100];

	c = raw_link(k, &r, KTL_CLIENT, 0);
	if (kern)
		expect_path(c, 1, 1);
	raw_send_data(&r, 33, 91);
	assert_int_equal(gnutls_bye(r.s, GNUTLS_SHUT_WR), 0);
	expect_data(c, 33, 91, 0);
	assert_int_equal(ktl_recv(c, buf, sizeof(buf)), 0);
	assert_int_equal(ktl_recv(c, buf, sizeof(buf)), 0);
	/* Our close_notify, sent by the kernel, ends GnuTLS's stream cleanly. */
	assert_int_equal(ktl_shutdown(c), 0);
	assert_int_equal(gnutls_record_recv(r.s, buf, sizeof(buf)), 0);
	ktl_close(c);
	raw_free(&r);
}

/* ---- a byte flipped in flight ------------------------------------------- */

struct proxy {
	pthread_t t;
	int a, b;                          /* a: client side, b: server side */
	atomic_ulong a2b;                  /* bytes relayed client -> server */
	atomic_ulong flip_at;              /* stream offset to corrupt, 0: none */
};

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;
	struct pollfd f[2] = { { .fd = p->a, .events = POLLIN }, { .fd = p->b, .events = POLLIN } };
	uint8_t buf[8192];
	int open = 2;

	while (open > 0 && poll(f, 2, -1) > 0) {
		for (int i = 0; i < 2; i++) {
			if (!(f[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = recv(f[i].fd, buf, sizeof(buf), 0);
			int to = i == 0 ? p->b : p->a;

			if (n <= 0) {
				shutdown(to, SHUT_WR);
				f[i].fd = -1;
				open--;
				continue;
			}
			if (i == 0) {
				unsigned long base = atomic_load(&p->a2b), at = atomic_load(&p->flip_at);

				if (at && at >= base && at < base + (unsigned long)n)
					buf[at - base] ^= 0x01;
				atomic_store(&p->a2b, base + (unsigned long)n);
			}
			if (send(to, buf, (size_t)n, MSG_NOSIGNAL) != n) {
				f[0].fd = f[1].fd = -1;
				open = 0;
			}
		}
	}
	close(p->a);
	close(p->b);
	return NULL;
}

static void bit_flip(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	long err0 = tls_stat("TlsDecryptError");
	struct proxy p = { 0 };
	struct ktl_conn *c, *s;
	int cfd, sfd;

	tu_tcp_pair(&cfd, &p.a);
	tu_tcp_pair(&p.b, &sfd);
	assert_int_equal(pthread_create(&p.t, NULL, proxy_main, &p), 0);
	link_fds(k, KTL_KTLS_AUTO, KTL_KTLS_AUTO, cfd, sfd, &c, &s);
	if (kern)
		expect_path(s, 1, 1);
	/* Inside the first application record's ciphertext. */
	atomic_store(&p.flip_at, atomic_load(&p.a2b) + 100);
	struct tx t = { .c = c, .total = 40000, .seed = 101 };
	struct rx r = { .c = s, .total = 40000, .seed = 101 };

	tx_start(&t);
	rx_main(&r);
	print_message("    receiver: %zd after %zu bytes: %s\n", r.end, r.got, r.err);
	assert_int_equal(r.end, -KTL_E_BAD_RECORD);
	assert_int_equal(r.got, 0);
	assert_int_equal(r.bad, -1);
	if (kern)
		assert_non_null(strstr(r.err, "authentication"));
	/* Sticky: no later read delivers anything. */
	uint8_t b[100];

	assert_true(ktl_recv(s, b, sizeof(b)) < 0);
	ktl_close(s);
	pthread_join(t.t, NULL);
	ktl_close(c);
	pthread_join(p.t, NULL);
	if (kern && err0 >= 0) {
		long d = tls_stat("TlsDecryptError") - err0;

		print_message("    tls_stat: TlsDecryptError +%ld\n", d);
		assert_true(d >= 1);
	}
}

/* ---- gnutls-serv and gnutls-cli ----------------------------------------- */

static uint16_t free_port(void)
{
	uint16_t port;
	int fd = tu_listen(&port);

	close(fd);
	return port;
}

/* The spawned peer of the running test; teardown reaps it even when an
 * assertion ended the test early. */
static pid_t child = -1;

static pid_t spawn(char *const argv[], int in_fd, int out_fd)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(in_fd >= 0 ? in_fd : null, 0);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		if (!getenv("KTL_TEST_VERBOSE"))
			dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	child = pid;
	return pid;
}

static void reap(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	if (pid == child)
		child = -1;
}

static int teardown(void **state)
{
	reap(child);
	return 0;
}

static int connect_retry(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };

	for (int i = 0; i < 400; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		usleep(50000);
	}
	return -1;
}

static void with_gnutls_serv(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	char port[16], ca[512], crt[512], key[512], prio[128];
	uint16_t pn = free_port();
	struct ktl_config *cfg = cfg_for(cli_node, k, KTL_KTLS_AUTO);
	struct ktl_conn *c;
	int fd;

	snprintf(port, sizeof(port), "%u", pn);
	snprintf(ca, sizeof(ca), "--x509cafile=%s/ca.crt", tu_fixture(srv_node));
	snprintf(crt, sizeof(crt), "--x509certfile=%s/node.crt", tu_fixture(srv_node));
	snprintf(key, sizeof(key), "--x509keyfile=%s/node.key", tu_fixture(srv_node));
	snprintf(prio, sizeof(prio), "--priority=%s", k->prio);
	char *argv[] = { "gnutls-serv", "--echo", "-q", "-p", port, ca, crt, key, "--verify-client-cert", prio, NULL };
	pid_t pid = spawn(argv, -1, -1);

	fd = connect_retry(pn);
	if (fd < 0) {
		reap(pid);
		fail_msg("gnutls-serv did not listen on %u", pn);
	}
	if (ktl_wrap_fd(&c, cfg, fd, KTL_CLIENT) != 0) {
		reap(pid);
		fail_msg("handshake with gnutls-serv: %s", ktl_last_error());
	}
	ktl_config_free(cfg);
	if (kern)
		expect_path(c, 1, 1);
	/* Echo: what goes out comes back. */
	struct tx t = { .c = c, .total = MIB, .chunk = 10000, .seed = 111, .text = 1 };
	struct rx r = { .c = c, .total = MIB, .seed = 111, .text = 1 };

	tx_start(&t);
	rx_start(&r);
	tx_join(&t);
	rx_join(&r);
	ktl_close(c);
	reap(pid);
}

struct cli_reader {
	pthread_t t;
	int fd;
	size_t total, got;
	long bad;
};

static void *cli_reader_main(void *a)
{
	struct cli_reader *x = a;
	uint8_t buf[65536];
	ssize_t n;

	x->bad = -1;
	while ((n = read(x->fd, buf, sizeof(buf))) > 0) {
		long b = tu_check(buf, (size_t)n, x->got, 121);

		if (b >= 0 && x->bad < 0)
			x->bad = (long)x->got + b;
		x->got += (size_t)n;
	}
	return NULL;
}

static void with_gnutls_cli(void **state)
{
	const struct combo *k = *state;
	int kern = need_ktls(k);
	char port[16], ca[512], crt[512], key[512], prio[128];
	uint16_t pn;
	int lfd = tu_listen(&pn), in[2], out[2];
	struct ktl_config *cfg = cfg_for(srv_node, k, KTL_KTLS_AUTO);
	struct ktl_conn *s;

	snprintf(port, sizeof(port), "%u", pn);
	snprintf(ca, sizeof(ca), "--x509cafile=%s/ca.crt", tu_fixture(cli_node));
	snprintf(crt, sizeof(crt), "--x509certfile=%s/node.crt", tu_fixture(cli_node));
	snprintf(key, sizeof(key), "--x509keyfile=%s/node.key", tu_fixture(cli_node));
	snprintf(prio, sizeof(prio), "--priority=%s", k->prio);
	char *argv[] = { "gnutls-cli", "--insecure", "--logfile=/dev/null", "-p", port, ca, crt, key, prio,
			 "127.0.0.1", NULL };
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid_t pid = spawn(argv, in[0], out[1]);

	close(in[0]);
	close(out[1]);
	if (ktl_accept(&s, cfg, lfd) != 0) {
		reap(pid);
		fail_msg("handshake with gnutls-cli: %s", ktl_last_error());
	}
	close(lfd);
	ktl_config_free(cfg);
	if (kern)
		expect_path(s, 1, 1);
	struct cli_reader cr = { .fd = out[0], .total = 300000 };

	assert_int_equal(pthread_create(&cr.t, NULL, cli_reader_main, &cr), 0);
	/* gnutls-cli: its stdin goes to us, what we send goes to its stdout. */
	uint8_t buf[20000];
	size_t sent = 0;

	for (size_t off = 0; off < 200000; off += sizeof(buf)) {
		tu_fill(buf, sizeof(buf), off, 122);
		assert_int_equal(write(in[1], buf, sizeof(buf)), (ssize_t)sizeof(buf));
	}
	struct rx r = { .c = s, .total = 200000, .seed = 122 };

	rx_main(&r);
	if (r.got != r.total || r.bad >= 0)
		fail_msg("from gnutls-cli: got %zu of %zu, bad at %ld: %s", r.got, r.total, r.bad, r.err);
	for (size_t off = 0; off < cr.total; off += sent) {
		sent = cr.total - off < sizeof(buf) ? cr.total - off : sizeof(buf);
		tu_fill(buf, sent, off, 121);
		assert_int_equal(ktl_send(s, buf, sent), (ssize_t)sent);
	}
	assert_int_equal(ktl_shutdown(s), 0);
	close(in[1]);                           /* gnutls-cli says bye and exits */
	pthread_join(cr.t, NULL);
	close(out[0]);
	ktl_close(s);
	reap(pid);
	if (cr.got != cr.total || cr.bad >= 0)
		fail_msg("gnutls-cli printed %zu of %zu bytes, bad at %ld", cr.got, cr.total, cr.bad);
}

/* ---- main ------------------------------------------------------------------ */

struct entry {
	const char *name;
	CMUnitTestFunction fn;
	int which;                         /* 0: all combos, 12/13: one version, or combo index+100 */
};

static const struct entry entries[] = {
	{ "kernel_both", kernel_both, 0 },
	{ "small_reads", small_reads, 0 },
	{ "kernel_client_user_server", kernel_client_user_server, 0 },
	{ "user_client_kernel_server", user_client_kernel_server, 0 },
	{ "tx_kernel_rx_user", tx_kernel_rx_user, 0 },
	{ "rx_kernel_tx_user", rx_kernel_tx_user, 0 },
	{ "with_gnutls_serv", with_gnutls_serv, 0 },
	{ "with_gnutls_cli", with_gnutls_cli, 0 },
	{ "data_with_finished", data_with_finished, 0 },
	{ "close_notify_raw", close_notify_raw, 0 },
	{ "truncated", truncated, 0 },
	{ "bit_flip", bit_flip, 0 },
	{ "peer_alert", peer_alert, 12 },
	{ "peer_alert", peer_alert, 13 },
	{ "tickets_then_data", tickets_then_data, 13 },
	{ "key_update", key_update, 13 },
	{ "sendfile", sendfile_tx, 12 },
	{ "sendfile", sendfile_tx, 13 },
	{ "splice", splice_tx, 12 },
	{ "splice", splice_tx, 105 },
	{ "big_64MiB", big, 103 },
	{ "big_64MiB", big, 102 },
	{ "require_refused", require_refused, 103 },
	{ "gnutls_guarded", gnutls_guarded, 12 },
	{ "gnutls_guarded", gnutls_guarded, 13 },
	{ "auto_without_kernel", auto_without_kernel, 103 },
};

int main(void)
{
	static struct CMUnitTest tests[256];
	static char names[256][96];
	size_t n = 0;
	const char *only = getenv("KTL_TEST_ONLY");

	signal(SIGPIPE, SIG_IGN);
	for (size_t e = 0; e < sizeof(entries) / sizeof(entries[0]); e++) {
		for (size_t i = 0; i < NCOMBO; i++) {
			int w = entries[e].which;

			if (w == 12 && combos[i].proto != KTL_TLS12)
				continue;
			if (w == 13 && combos[i].proto != KTL_TLS13)
				continue;
			if (w >= 100 && (size_t)(w - 100) != i)
				continue;
			/* One cipher per version is enough for the per-version cases. */
			if ((w == 12 || w == 13) && combos[i].cipher != KTL_AES_128_GCM &&
			    strcmp(entries[e].name, "peer_alert") && strcmp(entries[e].name, "key_update") &&
			    strcmp(entries[e].name, "tickets_then_data"))
				continue;
			snprintf(names[n], sizeof(names[n]), "%s/%s", entries[e].name, combos[i].name);
			if (only && !strstr(names[n], only))
				continue;
			tests[n] = (struct CMUnitTest){ .name = names[n], .test_func = entries[e].fn,
							.initial_state = (void *)&combos[i],
							.teardown_func = teardown };
			n++;
		}
	}
	return _cmocka_run_group_tests("ktls", tests, n, NULL, NULL);
}
