/* SPDX-License-Identifier: MIT */
/* FISCO BCOS node IDs: what ktlink computes equals the node.nodeid the
 * generator wrote (EC: X||Y, Ed25519: the raw key, RSA: SHA-256 of the
 * SubjectPublicKeyInfo), and the bad/ nodes' IDs computed by openssl. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* node.nodeid of a node dir, without the newline. */
static void read_nodeid(const char *dir, char *out, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/node.nodeid", tu_fixture(dir));
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	if (!fgets(out, (int)len, f))
		fail_msg("%s: empty", path);
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
}

static void check_dir(const char *dir, size_t want_len)
{
	char path[512], got[KTL_NODE_ID_MAX + 1], want[KTL_NODE_ID_MAX + 8];

	snprintf(path, sizeof(path), "%s/node.crt", tu_fixture(dir));
	memset(got, 'X', sizeof(got));
	if (ktl_node_id_from_file(path, got, sizeof(got)) != 0)
		fail_msg("%s: %s", path, ktl_last_error());
	read_nodeid(dir, want, sizeof(want));
	assert_int_equal(strlen(want), want_len);
	assert_int_equal(strlen(got), want_len);
	assert_string_equal(got, want);
	for (size_t i = 0; i < want_len; i++)
		if (!((got[i] >= '0' && got[i] <= '9') || (got[i] >= 'a' && got[i] <= 'f')))
			fail_msg("%s: character %zu '%c' is not lower-case hex", dir, i, got[i]);
}

static void test_ecdsa(void **state)
{
	(void)state;
	check_dir("ecdsa/agency0/node0", 128);
	check_dir("ecdsa/agency0/node1", 128);
}

static void test_ed25519(void **state)
{
	(void)state;
	check_dir("ed25519/agency0/node0", 64);
	check_dir("ed25519/agency0/node1", 64);
}

static void test_rsa(void **state)
{
	(void)state;
	check_dir("rsa/agency0/node0", 64);
	check_dir("rsa/agency0/node1", 64);
}

/* Independent check: these node.nodeid files come from openssl (the last
 * 64 bytes of the DER public key), not from the certificate generator. */
static void test_openssl_made_ids(void **state)
{
	(void)state;
	static const char *const dirs[] = { "bad/expired-node", "bad/expired-agency", "bad/future-node",
					    "bad/agency-not-ca", "bad/unknown-agency", "bad/leaf-only",
					    "bad/no-client-usage", "other-root/agency0/node0" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		check_dir(dirs[i], 128);
}

/* Different nodes, different IDs. */
static void test_distinct(void **state)
{
	(void)state;
	char a[KTL_NODE_ID_MAX + 1], b[KTL_NODE_ID_MAX + 1];
	char pa[512], pb[512];

	snprintf(pa, sizeof(pa), "%s", tu_fixture("ecdsa/agency0/node0/node.crt"));
	snprintf(pb, sizeof(pb), "%s", tu_fixture("ecdsa/agency0/node1/node.crt"));
	assert_int_equal(ktl_node_id_from_file(pa, a, sizeof(a)), 0);
	assert_int_equal(ktl_node_id_from_file(pb, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

static void test_buffer_too_small(void **state)
{
	(void)state;
	char out[KTL_NODE_ID_MAX + 1];

	assert_int_equal(ktl_node_id_from_file(tu_fixture("ecdsa/agency0/node0/node.crt"), out, 128), -ENOSPC);
	assert_non_null(strstr(ktl_last_error(), "too small"));
	/* 64 hex + NUL fits an Ed25519 ID exactly. */
	assert_int_equal(ktl_node_id_from_file(tu_fixture("ed25519/agency0/node0/node.crt"), out, 65), 0);
	assert_int_equal(ktl_node_id_from_file(tu_fixture("ed25519/agency0/node0/node.crt"), out, 64), -ENOSPC);
}

static void test_missing_file(void **state)
{
	(void)state;
	char out[KTL_NODE_ID_MAX + 1];

	assert_int_equal(ktl_node_id_from_file("/nonexistent/node.crt", out, sizeof(out)), -ENOENT);
	assert_non_null(strstr(ktl_last_error(), "/nonexistent/node.crt"));
}

static void test_not_a_certificate(void **state)
{
	(void)state;
	char out[KTL_NODE_ID_MAX + 1];
	const char *key = tu_fixture("ecdsa/agency0/node0/node.key");

	assert_int_equal(ktl_node_id_from_file(key, out, sizeof(out)), -KTL_E_BAD_FILE);
	assert_non_null(strstr(ktl_last_error(), key));
}

/* GnuTLS cannot use secp256k1 keys: no ID, and the message says why. */
static void test_secp256k1(void **state)
{
	(void)state;
	char out[KTL_NODE_ID_MAX + 1];
	char path[512];

	snprintf(path, sizeof(path), "%s", tu_fixture("bad/secp256k1/node.crt"));
	assert_int_equal(ktl_node_id_from_file(path, out, sizeof(out)), -KTL_E_UNSUPPORTED_KEY);
	assert_non_null(strstr(ktl_last_error(), path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ecdsa),
		cmocka_unit_test(test_ed25519),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_openssl_made_ids),
		cmocka_unit_test(test_distinct),
		cmocka_unit_test(test_buffer_too_small),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_not_a_certificate),
		cmocka_unit_test(test_secp256k1),
	};

	return cmocka_run_group_tests_name("nodeid", tests, NULL, NULL);
}
