/* SPDX-License-Identifier: MIT */
/* The configuration loaders: each error's code and a message that names
 * the file and says what is wrong with it; node-ID lists; priorities. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define NODE0 "ecdsa/agency0/node0"
#define NODE1 "ecdsa/agency0/node1"
#define K1 "bad/secp256k1"

static void assert_msg(const char *frag)
{
	if (!strstr(ktl_last_error(), frag))
		fail_msg("message '%s' lacks '%s'", ktl_last_error(), frag);
}

static struct ktl_config *new_config(void)
{
	struct ktl_config *cfg = NULL;

	assert_int_equal(ktl_config_new(&cfg), 0);
	assert_non_null(cfg);
	return cfg;
}

/* Fixture path copied out of tu_fixture's ring. */
static const char *fx(const char *rel)
{
	static char bufs[6][512];
	static int next;
	char *b = bufs[next++ % 6];

	snprintf(b, sizeof(bufs[0]), "%s", tu_fixture(rel));
	return b;
}

/* A temporary file with this content; the caller unlinks it. */
static const char *tmp_file(const char *content, size_t len)
{
	static char bufs[4][64];
	static int next;
	char *b = bufs[next++ % 4];
	int fd;

	snprintf(b, sizeof(bufs[0]), "/tmp/ktl-test-config-XXXXXX");
	fd = mkstemp(b);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return b;
}

/* ---- ktl_config_check: what every handshake would fail on, said up front -- */

static void test_config_check(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_check(NULL), -EINVAL);
	assert_int_equal(ktl_config_check(cfg), -EINVAL);
	assert_msg("no trust root loaded");
	assert_int_equal(ktl_config_load_dir(cfg, fx("ed25519/agency0/node0")), 0);
	assert_int_equal(ktl_config_check(cfg), 0);
	assert_int_equal(ktl_config_restrict(cfg, KTL_TLS12, 0), 0);
	assert_int_equal(ktl_config_check(cfg), -KTL_E_UNSUPPORTED_KEY);
	assert_msg("the node key is Ed25519");
	assert_int_equal(ktl_config_restrict(cfg, KTL_TLS12 | KTL_TLS13, 0), 0);
	assert_int_equal(ktl_config_check(cfg), 0);
	ktl_config_free(cfg);
}

/* ---- CA ----------------------------------------------------------------- */

static void test_ca_missing(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_set_ca(cfg, "/nonexistent/ktl/ca.crt"), -ENOENT);
	assert_msg("CA file /nonexistent/ktl/ca.crt: No such file or directory");
	ktl_config_free(cfg);
}

static void test_ca_garbage(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *p = tmp_file("this is not a certificate\n", 26);

	assert_int_equal(ktl_config_set_ca(cfg, p), -KTL_E_BAD_FILE);
	assert_msg(p);
	assert_msg("no PEM certificate found");
	unlink(p);
	ktl_config_free(cfg);
}

static void test_ca_empty_file(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *p = tmp_file("", 0);

	assert_int_equal(ktl_config_set_ca(cfg, p), -KTL_E_BAD_FILE);
	assert_msg(p);
	unlink(p);
	ktl_config_free(cfg);
}

/* node.crt as the trust root: its first certificate is no CA. */
static void test_ca_not_ca(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *p = fx(NODE0 "/node.crt");

	assert_int_equal(ktl_config_set_ca(cfg, p), -KTL_E_BAD_FILE);
	assert_msg(p);
	assert_msg("certificate 1 is not a CA (no CA:TRUE)");
	/* Nothing was kept: a real root still loads. */
	assert_int_equal(ktl_config_set_ca(cfg, fx(NODE0 "/ca.crt")), 0);
	ktl_config_free(cfg);
}

static void test_ca_twice(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *ca = fx(NODE0 "/ca.crt");

	assert_int_equal(ktl_config_set_ca(cfg, ca), 0);
	assert_int_equal(ktl_config_set_ca(cfg, fx("rsa/ca.crt")), -EEXIST);
	assert_msg("a trust root is already loaded");
	assert_msg(ca);
	ktl_config_free(cfg);
}

static void test_ca_secp256k1(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *p = fx(K1 "/k1-ca.crt");

	assert_int_equal(ktl_config_set_ca(cfg, p), -KTL_E_UNSUPPORTED_KEY);
	assert_msg(p);
	assert_msg("secp256k1");
	assert_msg("regenerate the node with ktlink certs");
	ktl_config_free(cfg);
}

/* ---- certificate and key ------------------------------------------------ */

static void test_cert_missing(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_set_cert_key(cfg, "/nonexistent/node.crt", fx(NODE0 "/node.key")), -ENOENT);
	assert_msg("certificate file /nonexistent/node.crt: No such file or directory");
	ktl_config_free(cfg);
}

static void test_key_missing(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_set_cert_key(cfg, fx(NODE0 "/node.crt"), "/nonexistent/node.key"), -ENOENT);
	assert_msg("key file /nonexistent/node.key: No such file or directory");
	ktl_config_free(cfg);
}

static void test_key_garbage(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *p = tmp_file("garbage\n", 8);

	assert_int_equal(ktl_config_set_cert_key(cfg, fx(NODE0 "/node.crt"), p), -KTL_E_BAD_FILE);
	assert_msg(p);
	assert_msg("key file");
	unlink(p);
	ktl_config_free(cfg);
}

/* A certificate where the key should be. */
static void test_key_is_a_certificate(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *p = fx(NODE0 "/ca.crt");

	assert_int_equal(ktl_config_set_cert_key(cfg, fx(NODE0 "/node.crt"), p), -KTL_E_BAD_FILE);
	assert_msg(p);
	ktl_config_free(cfg);
}

static void test_cert_garbage(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *p = tmp_file("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n", 68);

	assert_int_equal(ktl_config_set_cert_key(cfg, p, fx(NODE0 "/node.key")), -KTL_E_BAD_FILE);
	assert_msg(p);
	unlink(p);
	ktl_config_free(cfg);
}

static void test_key_mismatch(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *crt = fx(NODE0 "/node.crt"), *key = fx(NODE1 "/node.key");

	assert_int_equal(ktl_config_set_cert_key(cfg, crt, key), -KTL_E_BAD_FILE);
	assert_msg(key);
	assert_msg("does not match certificate");
	assert_msg(crt);
	/* Nothing was kept: the right pair still loads. */
	assert_int_equal(ktl_config_set_cert_key(cfg, crt, fx(NODE0 "/node.key")), 0);
	ktl_config_free(cfg);
}

static void test_cert_twice(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_set_cert_key(cfg, fx(NODE0 "/node.crt"), fx(NODE0 "/node.key")), 0);
	assert_int_equal(ktl_config_set_cert_key(cfg, fx(NODE1 "/node.crt"), fx(NODE1 "/node.key")), -EEXIST);
	assert_msg("already loaded");
	ktl_config_free(cfg);
}

/* FISCO's own tools make secp256k1 nodes; both key encodings and the
 * certificate are refused with the way out. */
static void test_secp256k1_key_pkcs8(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *key = fx(K1 "/node.key");

	assert_int_equal(ktl_config_set_cert_key(cfg, fx(NODE0 "/node.crt"), key), -KTL_E_UNSUPPORTED_KEY);
	assert_msg("key file");
	assert_msg(key);
	assert_msg("secp256k1");
	assert_msg("regenerate the node with ktlink certs");
	ktl_config_free(cfg);
}

static void test_secp256k1_key_sec1(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *key = fx(K1 "/node-sec1.key");

	assert_int_equal(ktl_config_set_cert_key(cfg, fx(NODE0 "/node.crt"), key), -KTL_E_UNSUPPORTED_KEY);
	assert_msg(key);
	assert_msg("secp256k1");
	assert_msg("regenerate the node with ktlink certs");
	ktl_config_free(cfg);
}

static void test_secp256k1_chain(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *crt = fx(K1 "/node.crt");

	assert_int_equal(ktl_config_set_cert_key(cfg, crt, fx(K1 "/node.key")), -KTL_E_UNSUPPORTED_KEY);
	assert_msg("certificate file");
	assert_msg(crt);
	assert_msg("secp256k1");
	assert_msg("regenerate the node with ktlink certs");
	ktl_config_free(cfg);
}

static void test_load_dir_secp256k1(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_load_dir(cfg, fx(K1)), -KTL_E_UNSUPPORTED_KEY);
	assert_msg("secp256k1");
	assert_msg("regenerate the node with ktlink certs");
	ktl_config_free(cfg);
}

static void test_one_cert_chain(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *crt = fx("bad/leaf-only/node.crt");

	assert_int_equal(ktl_config_set_cert_key(cfg, crt, fx("bad/leaf-only/node.key")), -KTL_E_BAD_FILE);
	assert_msg(crt);
	assert_msg("holds only the node certificate; append the agency certificate");
	ktl_config_free(cfg);
}

/* Agency first, node second: refused with the order to use. */
static void test_chain_wrong_order(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	char *pem = NULL, *node_end;
	size_t len = 0;
	FILE *f = fopen(fx(NODE0 "/node.crt"), "r");
	char rev[8192];
	const char *p;

	assert_non_null(f);
	assert_true(getdelim(&pem, &len, '\0', f) > 0);
	fclose(f);
	node_end = strstr(pem, "-----END CERTIFICATE-----\n");
	assert_non_null(node_end);
	node_end += strlen("-----END CERTIFICATE-----\n");
	snprintf(rev, sizeof(rev), "%s%.*s", node_end, (int)(node_end - pem), pem);
	p = tmp_file(rev, strlen(rev));
	assert_int_equal(ktl_config_set_cert_key(cfg, p, fx(NODE0 "/node.key")), -KTL_E_BAD_FILE);
	assert_msg(p);
	assert_msg("order must be node then agency");
	unlink(p);
	free(pem);
	ktl_config_free(cfg);
}

/* ---- CRL ---------------------------------------------------------------- */

static void test_crl_missing(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_add_crl(cfg, "/nonexistent/x.crl"), -ENOENT);
	assert_msg("CRL file /nonexistent/x.crl: No such file or directory");
	ktl_config_free(cfg);
}

static void test_crl_garbage(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	const char *p = fx(NODE0 "/ca.crt"); /* a certificate, not a CRL */

	assert_int_equal(ktl_config_add_crl(cfg, p), -KTL_E_BAD_FILE);
	assert_msg(p);
	assert_msg("holds a certificate, not a CRL");
	ktl_config_free(cfg);
}

static void test_crl_ok(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_add_crl(cfg, fx("ecdsa/agency0/revoked.crl")), 0);
	assert_int_equal(ktl_config_add_crl(cfg, fx("ecdsa/agency0/agency.crl")), 0);
	assert_int_equal(cfg->n_crls, 2);
	ktl_config_free(cfg);
}

/* ---- priority and restrict ---------------------------------------------- */

static void test_bad_priority(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_set_priority(cfg, "NORMAL:+NO-SUCH-THING"), -EINVAL);
	assert_msg("priority 'NORMAL:+NO-SUCH-THING'");
	assert_msg("NO-SUCH-THING");
	assert_null(cfg->priority); /* not kept */
	assert_int_equal(ktl_config_set_priority(cfg, ""), -EINVAL);
	assert_msg("priority: empty string");
	assert_int_equal(ktl_config_set_priority(cfg, NULL), -EINVAL);
	assert_int_equal(ktl_config_set_priority(cfg, "NORMAL:-VERS-ALL:+VERS-TLS1.3"), 0);
	assert_string_equal(cfg->priority, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
	ktl_config_free(cfg);
}

static void test_restrict_unknown_bits(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_restrict(cfg, 0x4, 0), -EINVAL);
	assert_msg("unknown protocol bits 0x4");
	assert_int_equal(ktl_config_restrict(cfg, KTL_TLS13 | 0x10, 0), -EINVAL);
	assert_int_equal(ktl_config_restrict(cfg, 0, 0x8), -EINVAL);
	assert_msg("unknown cipher bits 0x8");
	assert_int_equal(ktl_config_restrict(cfg, KTL_TLS12, KTL_AES_256_GCM), 0);
	assert_int_equal(cfg->protocols, KTL_TLS12);
	assert_int_equal(cfg->ciphers, KTL_AES_256_GCM);
	ktl_config_free(cfg);
}

/* The default priority names only TLS 1.2/1.3, ECDHE and the AEADs. */
static void test_priority_string(void **state)
{
	(void)state;
	char buf[512];

	assert_int_equal(ktl_priority_string(KTL_TLS13, KTL_CHACHA20_POLY1305, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "+VERS-TLS1.3"));
	assert_null(strstr(buf, "+VERS-TLS1.2"));
	assert_non_null(strstr(buf, "+CHACHA20-POLY1305"));
	assert_null(strstr(buf, "+AES-128-GCM"));
	assert_null(strstr(buf, "CBC"));
	assert_int_equal(ktl_priority_string(0, 0, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "+VERS-TLS1.2"));
	assert_non_null(strstr(buf, "+AES-256-GCM"));
	assert_int_equal(ktl_priority_string(0, 0, buf, 16), -ENOSPC);
}

static void test_timeout_and_ktls_mode(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(cfg->hs_timeout_ms, 10000);
	assert_int_equal(ktl_config_set_handshake_timeout(cfg, 0), -EINVAL);
	assert_int_equal(ktl_config_set_handshake_timeout(cfg, 1), 0);
	assert_int_equal(cfg->hs_timeout_ms, 1);
	assert_int_equal(ktl_config_set_ktls(cfg, (enum ktl_ktls_mode)7), -EINVAL);
	assert_msg("kTLS mode 7");
	{
		struct ktl_support sup;

		/* REQUIRE is refused up front where the kernel has no kTLS. */
		ktl_probe_support(&sup);
		if (sup.ktls_ulp) {
			assert_int_equal(ktl_config_set_ktls(cfg, KTL_KTLS_REQUIRE), 0);
		} else {
			assert_int_equal(ktl_config_set_ktls(cfg, KTL_KTLS_REQUIRE), -KTL_E_KTLS_UNAVAILABLE);
			assert_msg("kTLS required, but this kernel has no kTLS (TCP_ULP tls: ");
		}
	}
	ktl_config_free(cfg);
	ktl_config_free(NULL);
}

/* ---- node-ID lists ------------------------------------------------------ */

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_node_id_normalized(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	/* Pasted with 0x, upper case and whitespace: one canonical entry. */
	assert_int_equal(ktl_config_allow_node(cfg, "  0x0123456789ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef\n"), 0);
	assert_int_equal(ktl_config_allow_node(cfg, ID64), 0);
	assert_int_equal(ktl_config_allow_node(cfg, "0X" ID64), 0);
	assert_int_equal(cfg->n_allow, 1);
	assert_string_equal(cfg->allow[0], ID64);
	assert_int_equal(ktl_config_deny_node(cfg, "\t" ID64 "\t"), 0);
	assert_int_equal(cfg->n_deny, 1);
	assert_string_equal(cfg->deny[0], ID64);
	ktl_config_free(cfg);
}

static void test_node_id_invalid(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();
	char longid[KTL_NODE_ID_MAX + 3];

	assert_int_equal(ktl_config_allow_node(cfg, "abc"), -EINVAL);
	assert_msg("allow node ID 'abc': 3 hex characters; a node ID has 128 (ECDSA P-256) or 64 (Ed25519, RSA)");
	assert_int_equal(ktl_config_deny_node(cfg, "abzz"), -EINVAL);
	assert_msg("deny node ID 'abzz': 'z' at position 3 is not hex");
	assert_int_equal(ktl_config_allow_node(cfg, ""), -EINVAL);
	assert_msg("empty");
	assert_int_equal(ktl_config_allow_node(cfg, "0x"), -EINVAL);
	assert_int_equal(ktl_config_allow_node(cfg, "   "), -EINVAL);
	memset(longid, 'a', KTL_NODE_ID_MAX + 2);
	longid[KTL_NODE_ID_MAX + 2] = '\0';
	assert_int_equal(ktl_config_allow_node(cfg, longid), -EINVAL);
	assert_msg("130 hex characters");
	assert_msg("..."); /* the echo of a long ID is cut */
	longid[KTL_NODE_ID_MAX] = '\0';
	assert_int_equal(ktl_config_allow_node(cfg, longid), 0);
	assert_int_equal(cfg->n_allow, 1);
	assert_int_equal(cfg->n_deny, 0);
	ktl_config_free(cfg);
}

/* ---- FISCO directory ---------------------------------------------------- */

static void test_load_dir_missing(void **state)
{
	(void)state;
	struct ktl_config *cfg = new_config();

	assert_int_equal(ktl_config_load_dir(cfg, "/nonexistent/ktl-node"), -ENOENT);
	assert_msg("/nonexistent/ktl-node");
	ktl_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_check),
		cmocka_unit_test(test_ca_missing),
		cmocka_unit_test(test_ca_garbage),
		cmocka_unit_test(test_ca_empty_file),
		cmocka_unit_test(test_ca_not_ca),
		cmocka_unit_test(test_ca_twice),
		cmocka_unit_test(test_ca_secp256k1),
		cmocka_unit_test(test_cert_missing),
		cmocka_unit_test(test_key_missing),
		cmocka_unit_test(test_key_garbage),
		cmocka_unit_test(test_key_is_a_certificate),
		cmocka_unit_test(test_cert_garbage),
		cmocka_unit_test(test_key_mismatch),
		cmocka_unit_test(test_cert_twice),
		cmocka_unit_test(test_secp256k1_key_pkcs8),
		cmocka_unit_test(test_secp256k1_key_sec1),
		cmocka_unit_test(test_secp256k1_chain),
		cmocka_unit_test(test_load_dir_secp256k1),
		cmocka_unit_test(test_one_cert_chain),
		cmocka_unit_test(test_chain_wrong_order),
		cmocka_unit_test(test_crl_missing),
		cmocka_unit_test(test_crl_garbage),
		cmocka_unit_test(test_crl_ok),
		cmocka_unit_test(test_bad_priority),
		cmocka_unit_test(test_restrict_unknown_bits),
		cmocka_unit_test(test_priority_string),
		cmocka_unit_test(test_timeout_and_ktls_mode),
		cmocka_unit_test(test_node_id_normalized),
		cmocka_unit_test(test_node_id_invalid),
		cmocka_unit_test(test_load_dir_missing),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
