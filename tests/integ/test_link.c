/* SPDX-License-Identifier: MIT */
/* Successful links: every protocol x cipher x key type, data checked byte
 * for byte both ways, close_notify and truncation, and the info call. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

struct combo {
	const char *keytype;
	unsigned proto;
	unsigned cipher;
	const char *proto_name;
	const char *cipher_name;
};

#define XFER (1u << 20) /* per direction */

/* Server side: echo back a transformed stream (seed 2) after reading the
 * client's (seed 1), so both directions are checked. */
static void server_fn(struct tu_peer *p, struct ktl_conn *c)
{
	uint8_t *buf = malloc(XFER);
	size_t got = 0;

	p->fn_rc = -1;
	while (got < XFER) {
		ssize_t n = ktl_recv(c, buf + got, XFER - got);

		if (n <= 0) {
			snprintf(p->err, sizeof(p->err), "server recv %zd: %s", n, ktl_last_error());
			free(buf);
			return;
		}
		got += (size_t)n;
	}
	if (tu_check(buf, XFER, 0, 1) != -1) {
		snprintf(p->err, sizeof(p->err), "server: data mismatch at %ld", tu_check(buf, XFER, 0, 1));
		free(buf);
		return;
	}
	tu_fill(buf, XFER, 0, 2);
	if (ktl_send(c, buf, XFER) != (ssize_t)XFER) {
		snprintf(p->err, sizeof(p->err), "server send: %s", ktl_last_error());
		free(buf);
		return;
	}
	/* The client's close_notify ends the stream cleanly. */
	p->fn_rc = ktl_recv(c, buf, 1) == 0 ? 0 : -2;
	free(buf);
}

static void run_combo(const struct combo *k)
{
	char dir0[64], dir1[64];
	struct ktl_config *scfg, *ccfg;
	struct tu_peer srv = { 0 };
	struct ktl_conn *c = NULL;
	struct ktl_info info;
	int cfd, sfd;
	uint8_t *buf = malloc(XFER);
	size_t got = 0;

	snprintf(dir0, sizeof(dir0), "%s/agency0/node0", k->keytype);
	snprintf(dir1, sizeof(dir1), "%s/agency0/node1", k->keytype);
	scfg = tu_config(dir0);
	ccfg = tu_config(dir1);
	assert_int_equal(ktl_config_restrict(scfg, k->proto, k->cipher), 0);
	assert_int_equal(ktl_config_restrict(ccfg, k->proto, k->cipher), 0);

	if (strcmp(k->keytype, "ed25519") == 0 && k->proto == KTL_TLS12) {
		/* GnuTLS 3.7.9 cannot do Ed25519 client auth in TLS 1.2: refused
		 * up front with the reason, on either role. */
		tu_tcp_pair(&cfd, &sfd);
		assert_int_equal(ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT), -KTL_E_UNSUPPORTED_KEY);
		assert_non_null(strstr(ktl_last_error(), "Ed25519"));
		assert_non_null(strstr(ktl_last_error(), "only in TLS 1.3"));
		assert_int_equal(ktl_wrap_fd(&c, scfg, sfd, KTL_SERVER), -KTL_E_UNSUPPORTED_KEY);
		ktl_config_free(scfg);
		ktl_config_free(ccfg);
		free(buf);
		return;
	}
	tu_tcp_pair(&cfd, &sfd);
	srv.cfg = scfg;
	srv.fd = sfd;
	srv.role = KTL_SERVER;
	srv.fn = server_fn;
	tu_peer_start(&srv);

	if (ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT) != 0)
		fail_msg("client handshake: %s", ktl_last_error());
	assert_int_equal(ktl_get_info(c, &info), 0);
	assert_string_equal(info.protocol, k->proto_name);
	assert_string_equal(info.cipher, k->cipher_name);
	assert_int_equal(info.version, k->proto == KTL_TLS13 ? 0x0304 : 0x0303);
	assert_non_null(strstr(info.peer_subject, "CN=node0"));
	assert_non_null(strstr(info.peer_issuer, "agency0"));
	{
		char want[KTL_NODE_ID_MAX + 1];
		char path[512];

		snprintf(path, sizeof(path), "%s/node.crt", tu_fixture(dir0));
		assert_int_equal(ktl_node_id_from_file(path, want, sizeof(want)), 0);
		assert_string_equal(info.peer_node_id, want);
	}
	/* This kernel decides where records run; the info says which and why. */
	assert_true(info.tx_reason[0] != '\0');
	assert_true(info.rx_reason[0] != '\0');

	tu_fill(buf, XFER, 0, 1);
	assert_int_equal(ktl_send(c, buf, XFER), (ssize_t)XFER);
	memset(buf, 0, XFER);
	while (got < XFER) {
		ssize_t n = ktl_recv(c, buf + got, XFER - got);

		if (n <= 0)
			fail_msg("client recv %zd: %s", n, ktl_last_error());
		got += (size_t)n;
	}
	assert_int_equal(tu_check(buf, XFER, 0, 2), -1);
	assert_int_equal(ktl_shutdown(c), 0);
	/* The server closes after our close_notify: clean end of stream. */
	assert_int_equal(ktl_recv(c, buf, 16), 0);
	assert_int_equal(ktl_close(c), 0);

	tu_peer_join(&srv);
	if (srv.rc != 0 || srv.fn_rc != 0)
		fail_msg("server rc=%d fn=%d: %s", srv.rc, srv.fn_rc, srv.err);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
	free(buf);
}

#define COMBO(kt, p, c, pn, cn)                                                \
	static void test_##kt##_##p##_##c(void **state)                        \
	{                                                                      \
		(void)state;                                                   \
		struct combo k = { #kt, KTL_##p, KTL_##c, pn, cn };            \
		run_combo(&k);                                                 \
	}

#define KEYTYPE(kt)                                                           \
	COMBO(kt, TLS13, AES_128_GCM, "TLS1.3", "AES-128-GCM")                \
	COMBO(kt, TLS13, AES_256_GCM, "TLS1.3", "AES-256-GCM")                \
	COMBO(kt, TLS13, CHACHA20_POLY1305, "TLS1.3", "CHACHA20-POLY1305")    \
	COMBO(kt, TLS12, AES_128_GCM, "TLS1.2", "AES-128-GCM")                \
	COMBO(kt, TLS12, AES_256_GCM, "TLS1.2", "AES-256-GCM")                \
	COMBO(kt, TLS12, CHACHA20_POLY1305, "TLS1.2", "CHACHA20-POLY1305")

KEYTYPE(ecdsa)
KEYTYPE(ed25519)
KEYTYPE(rsa)

#define ENTRIES(kt)                                                           \
	cmocka_unit_test(test_##kt##_TLS13_AES_128_GCM),                      \
	cmocka_unit_test(test_##kt##_TLS13_AES_256_GCM),                      \
	cmocka_unit_test(test_##kt##_TLS13_CHACHA20_POLY1305),                \
	cmocka_unit_test(test_##kt##_TLS12_AES_128_GCM),                      \
	cmocka_unit_test(test_##kt##_TLS12_AES_256_GCM),                      \
	cmocka_unit_test(test_##kt##_TLS12_CHACHA20_POLY1305)

/* Default priority: TLS 1.3 with the server's first choice. */
static void test_default_is_tls13(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config("ecdsa/agency0/node0"), *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER };
	struct ktl_conn *c;
	struct ktl_info info;
	int cfd;

	tu_tcp_pair(&cfd, &srv.fd);
	tu_peer_start(&srv);
	assert_int_equal(ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT), 0);
	ktl_get_info(c, &info);
	assert_string_equal(info.protocol, "TLS1.3");
	assert_string_equal(info.cipher, "AES-128-GCM");
	assert_string_equal(info.kx, "X25519");
	ktl_close(c);
	tu_peer_join(&srv);
	assert_int_equal(srv.rc, 0);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

static void *client_main(void *arg)
{
	struct tu_peer *p = arg;
	struct ktl_conn *c = NULL;

	p->rc = ktl_wrap_fd(&c, p->cfg, p->fd, KTL_CLIENT);
	ktl_close(c);
	return NULL;
}

static size_t be16(const uint8_t *p)
{
	return (size_t)p[0] << 8 | p[1];
}

/* The key_share extension (51) of a ClientHello record: the number of
 * shares, the first share's group in *group; -1 when malformed or absent. */
static int count_key_shares(const uint8_t *rec, size_t len, unsigned *group)
{
	size_t off = 5 + 4 + 2 + 32, end;

	if (len < off + 1 || rec[0] != 22 || rec[5] != 1)
		return -1;
	off += 1 + rec[off];                          /* session id */
	if (off + 2 > len)
		return -1;
	off += 2 + be16(rec + off);                   /* cipher suites */
	if (off + 1 > len)
		return -1;
	off += 1 + rec[off];                          /* compression methods */
	if (off + 2 > len)
		return -1;
	end = off + 2 + be16(rec + off);
	if (end > len)
		return -1;
	for (off += 2; off + 4 <= end; off += 4 + be16(rec + off + 2)) {
		size_t ks, n = 0;

		if (be16(rec + off) != 51)
			continue;
		ks = off + 6;
		if (ks > end)
			return -1;
		*group = ks + 2 <= end ? (unsigned)be16(rec + ks) : 0;
		for (size_t e = ks + be16(rec + off + 4); ks + 4 <= e && e <= end; ks += 4 + be16(rec + ks + 2))
			n++;
		return (int)n;
	}
	return -1;
}

/* The client offers one key share, X25519's: each handshake generates one
 * ephemeral key, not GnuTLS's default two. */
static void test_client_sends_one_key_share(void **state)
{
	(void)state;
	struct ktl_config *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer cli = { .cfg = ccfg, .role = KTL_CLIENT };
	uint8_t hello[4096];
	size_t got = 0, need = 5;
	unsigned group = 0;
	int sfd;

	tu_tcp_pair(&cli.fd, &sfd);
	assert_int_equal(pthread_create(&cli.thread, NULL, client_main, &cli), 0);
	while (got < need) {
		ssize_t n = recv(sfd, hello + got, sizeof(hello) - got, 0);

		assert_true(n > 0);
		got += (size_t)n;
		if (got >= 5)
			need = 5 + be16(hello + 3);
		assert_true(need <= sizeof(hello));
	}
	close(sfd); /* the client's handshake fails; only its hello matters */
	assert_int_equal(pthread_join(cli.thread, NULL), 0);
	assert_true(cli.rc < 0);
	assert_int_equal(count_key_shares(hello, got, &group), 1);
	assert_int_equal(group, 0x001d); /* x25519 */
	ktl_config_free(ccfg);
}

/* A server without X25519 asks for another share (HelloRetryRequest) and
 * the link comes up on P-256, data intact both ways. */
static void test_server_without_x25519(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config("ecdsa/agency0/node0"), *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER, .fn = server_fn };
	struct ktl_conn *c;
	struct ktl_info info;
	uint8_t *buf = malloc(XFER);
	size_t got = 0;
	int cfd;

	assert_non_null(buf);
	assert_int_equal(ktl_config_set_priority(scfg, "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-SECP256R1"), 0);
	tu_tcp_pair(&cfd, &srv.fd);
	tu_peer_start(&srv);
	assert_int_equal(ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT), 0);
	ktl_get_info(c, &info);
	assert_string_equal(info.protocol, "TLS1.3");
	assert_string_equal(info.kx, "SECP256R1");
	tu_fill(buf, XFER, 0, 1);
	assert_int_equal(ktl_send(c, buf, XFER), (ssize_t)XFER);
	while (got < XFER) {
		ssize_t n = ktl_recv(c, buf + got, XFER - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(tu_check(buf, XFER, 0, 2), -1);
	ktl_close(c);
	tu_peer_join(&srv);
	assert_int_equal(srv.rc, 0);
	assert_int_equal(srv.fn_rc, 0);
	free(buf);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

/* Records of every size in one stream (each ktl_send below 16 KiB is one
 * record), read back in chunks of other sizes: the receive side's
 * read-ahead switches between small and large records without losing,
 * repeating or reordering a byte. */
static const size_t mixed_sizes[] = { 1, 16384, 5, 100, 4095, 4096, 16384, 16384, 6, 16000, 3, 70000, 2 };
#define MIXED_ROUNDS 40

static size_t mixed_total(void)
{
	size_t t = 0;

	for (size_t i = 0; i < sizeof(mixed_sizes) / sizeof(mixed_sizes[0]); i++)
		t += mixed_sizes[i];
	return t * MIXED_ROUNDS;
}

static void mixed_send_fn(struct tu_peer *p, struct ktl_conn *c)
{
	size_t total = mixed_total(), off = 0, i = 0;
	uint8_t *buf = malloc(total);

	p->fn_rc = -1;
	if (!buf)
		return;
	tu_fill(buf, total, 0, 3);
	while (off < total) {
		size_t n = mixed_sizes[i++ % (sizeof(mixed_sizes) / sizeof(mixed_sizes[0]))];

		if (ktl_send(c, buf + off, n) != (ssize_t)n) {
			snprintf(p->err, sizeof(p->err), "send: %s", ktl_last_error());
			free(buf);
			return;
		}
		off += n;
	}
	p->fn_rc = 0;
	free(buf);
}

static void test_mixed_record_sizes(void **state)
{
	(void)state;
	static const size_t reads[] = { 1, 7, 16384, 100, 65536, 5, 20000, 4096 };
	struct ktl_config *scfg = tu_config("ecdsa/agency0/node0"), *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER, .fn = mixed_send_fn };
	size_t total = mixed_total(), got = 0, i = 0;
	uint8_t *buf = malloc(total + 65536);
	struct ktl_conn *c;
	int cfd;

	assert_non_null(buf);
	assert_int_equal(ktl_config_set_ktls(ccfg, KTL_KTLS_OFF), 0);
	tu_tcp_pair(&cfd, &srv.fd);
	tu_peer_start(&srv);
	assert_int_equal(ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT), 0);
	for (;;) {
		ssize_t n = ktl_recv(c, buf + got, reads[i++ % (sizeof(reads) / sizeof(reads[0]))]);

		if (n == 0)
			break;
		assert_true(n > 0);
		got += (size_t)n;
		assert_true(got <= total);
	}
	assert_int_equal(got, total);
	assert_int_equal(tu_check(buf, total, 0, 3), -1);
	ktl_close(c);
	tu_peer_join(&srv);
	assert_int_equal(srv.rc, 0);
	assert_int_equal(srv.fn_rc, 0);
	free(buf);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

/* A peer that vanishes without close_notify is truncation, never EOF. */
static void vanish_fn(struct tu_peer *p, struct ktl_conn *c)
{
	static const char msg[] = "partial";

	p->fn_rc = (int)ktl_send(c, msg, sizeof(msg));
	/* Close the socket under the library: no close_notify goes out. */
	shutdown(ktl_fd(c), SHUT_RDWR);
}

static void test_truncation(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config("ecdsa/agency0/node0"), *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER, .fn = vanish_fn };
	struct ktl_conn *c;
	char buf[64];
	int cfd;

	tu_tcp_pair(&cfd, &srv.fd);
	tu_peer_start(&srv);
	assert_int_equal(ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT), 0);
	assert_int_equal(ktl_recv(c, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "partial");
	assert_int_equal(ktl_recv(c, buf, sizeof(buf)), -KTL_E_TRUNCATED);
	assert_non_null(strstr(ktl_last_error(), "without close_notify (truncated)"));
	/* Sticky: the link stays failed. */
	assert_int_equal(ktl_recv(c, buf, sizeof(buf)), -KTL_E_TRUNCATED);
	ktl_close(c);
	tu_peer_join(&srv);
	assert_int_equal(srv.rc, 0);
	assert_int_equal(srv.fn_rc, 8);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

/* TLS 1.2 and 1.3 suites are disjoint: the one-version side says which
 * version it allows, so "no common suite" is not a riddle. */
static void test_version_mismatch(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config("ecdsa/agency0/node0"), *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER };
	struct ktl_conn *c = NULL;
	int cfd;

	assert_int_equal(ktl_config_restrict(scfg, KTL_TLS12, 0), 0);
	assert_int_equal(ktl_config_restrict(ccfg, KTL_TLS13, 0), 0);
	tu_tcp_pair(&cfd, &srv.fd);
	tu_peer_start(&srv);
	assert_int_equal(ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT), -KTL_E_NO_SHARED_CIPHER);
	assert_null(c);
	/* The client learns it from the server's alert: it names its own side. */
	assert_non_null(strstr(ktl_last_error(), "(this side allows only TLS 1.3; the peer may not)"));
	tu_peer_join(&srv);
	assert_int_equal(srv.rc, -KTL_E_NO_SHARED_CIPHER);
	assert_non_null(strstr(srv.err, "no common cipher suite during the handshake"));
	assert_non_null(strstr(srv.err, "and this side only TLS 1.2"));
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ENTRIES(ecdsa), ENTRIES(ed25519), ENTRIES(rsa),
		cmocka_unit_test(test_default_is_tls13),
		cmocka_unit_test(test_client_sends_one_key_share),
		cmocka_unit_test(test_server_without_x25519),
		cmocka_unit_test(test_mixed_record_sizes),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_version_mismatch),
	};

	return cmocka_run_group_tests_name("link", tests, NULL, NULL);
}
