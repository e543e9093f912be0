/* SPDX-License-Identifier: MIT */
/* Error codes and messages: a distinct text per code, errno passed
 * through, the last message kept per thread, GnuTLS errors mapped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void test_each_code_has_text(void **state)
{
	(void)state;
	for (int c = KTL_E_BASE + 1; c < KTL_E_MAX; c++) {
		const char *t = ktl_strerror(-c);

		assert_non_null(t);
		if (!*t || strcmp(t, "unknown error") == 0)
			fail_msg("code %d has no text", c);
		/* Same text for the positive code. */
		assert_ptr_equal(t, ktl_strerror(c));
		/* Not an errno text either. */
		assert_string_not_equal(t, strerror(c));
		for (int d = KTL_E_BASE + 1; d < c; d++)
			if (strcmp(t, ktl_strerror(-d)) == 0)
				fail_msg("codes %d and %d share the text '%s'", c, d, t);
	}
}

/* Codes sit above every errno value. */
static void test_codes_above_errno(void **state)
{
	(void)state;
	assert_true(KTL_E_BASE > 133); /* EHWPOISON, the largest Linux errno */
	assert_int_equal(KTL_E_CERT_EXPIRED, KTL_E_BASE + 1);
}

static void test_errno_passthrough(void **state)
{
	(void)state;
	assert_string_equal(ktl_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(ktl_strerror(ENOENT), strerror(ENOENT));
	assert_string_equal(ktl_strerror(-ECONNRESET), strerror(ECONNRESET));
	assert_string_equal(ktl_strerror(0), "success");
}

static void test_out_of_range(void **state)
{
	(void)state;
	assert_string_equal(ktl_strerror(-KTL_E_BASE), "unknown error");
	assert_string_equal(ktl_strerror(-KTL_E_MAX), "unknown error");
	assert_string_equal(ktl_strerror(KTL_E_MAX + 100), "unknown error");
	assert_string_equal(ktl_strerror(INT_MAX), "unknown error");
	assert_string_equal(ktl_strerror(INT_MIN), "unknown error");
}

static void test_err_returns_negated_code(void **state)
{
	(void)state;
	assert_int_equal(ktl_err(EINVAL, "thing %d is %s", 7, "wrong"), -EINVAL);
	assert_string_equal(ktl_last_error(), "thing 7 is wrong");
	assert_int_equal(ktl_err(KTL_E_BAD_FILE, "%s", "file x"), -KTL_E_BAD_FILE);
	assert_string_equal(ktl_last_error(), "file x");
	/* A message built from the last one (as the loaders do). */
	assert_int_equal(ktl_err(ENOENT, "outer: %s", ktl_last_error()), -ENOENT);
	assert_string_equal(ktl_last_error(), "outer: file x");
	assert_int_equal(ktl_err_msg(EIO, ktl_last_error()), -EIO);
	assert_string_equal(ktl_last_error(), "outer: file x");
}

static void test_long_message_truncated(void **state)
{
	(void)state;
	char big[2000];

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ktl_err(EINVAL, "%s", big), -EINVAL);
	assert_int_equal(strlen(ktl_last_error()), KTL_MSG_MAX - 1);
	assert_int_equal(ktl_err_msg(EINVAL, big), -EINVAL);
	assert_int_equal(strlen(ktl_last_error()), KTL_MSG_MAX - 1);
}

/* ---- per thread --------------------------------------------------------- */

struct th {
	char before[KTL_MSG_MAX];
	char after[KTL_MSG_MAX];
	int rc;
};

static void *thread_main(void *arg)
{
	struct th *t = arg;
	struct ktl_config *cfg = NULL;

	snprintf(t->before, sizeof(t->before), "%s", ktl_last_error());
	ktl_config_new(&cfg);
	t->rc = ktl_config_set_ca(cfg, "/nonexistent/thread/ca.crt");
	snprintf(t->after, sizeof(t->after), "%s", ktl_last_error());
	ktl_config_free(cfg);
	return NULL;
}

static void test_last_error_per_thread(void **state)
{
	(void)state;
	struct th t = { { 0 }, { 0 }, 0 };
	pthread_t tid;

	assert_int_equal(ktl_err(EPERM, "main thread failure"), -EPERM);
	assert_int_equal(pthread_create(&tid, NULL, thread_main, &t), 0);
	assert_int_equal(pthread_join(tid, NULL), 0);
	/* The new thread started with no message and set its own ... */
	assert_string_equal(t.before, "");
	assert_int_equal(t.rc, -ENOENT);
	assert_non_null(strstr(t.after, "/nonexistent/thread/ca.crt"));
	/* ... which did not touch ours. */
	assert_string_equal(ktl_last_error(), "main thread failure");
}

/* ---- GnuTLS error mapping ----------------------------------------------- */

static void test_code_from_gnutls(void **state)
{
	(void)state;
	static const struct {
		int g, k;
	} map[] = {
		{ GNUTLS_E_UNSUPPORTED_VERSION_PACKET, KTL_E_PROTOCOL_VERSION },
		{ GNUTLS_E_NO_CIPHER_SUITES, KTL_E_NO_SHARED_CIPHER },
		{ GNUTLS_E_UNKNOWN_CIPHER_SUITE, KTL_E_NO_SHARED_CIPHER },
		{ GNUTLS_E_INSUFFICIENT_SECURITY, KTL_E_NO_SHARED_CIPHER },
		{ GNUTLS_E_NO_COMMON_KEY_SHARE, KTL_E_NO_SHARED_CIPHER },
		{ GNUTLS_E_NO_CERTIFICATE_FOUND, KTL_E_NO_PEER_CERT },
		{ GNUTLS_E_CERTIFICATE_REQUIRED, KTL_E_NO_PEER_CERT },
		{ GNUTLS_E_FATAL_ALERT_RECEIVED, KTL_E_PEER_ALERT },
		{ GNUTLS_E_PREMATURE_TERMINATION, KTL_E_TRUNCATED },
		{ GNUTLS_E_DECRYPTION_FAILED, KTL_E_BAD_RECORD },
		{ GNUTLS_E_TIMEDOUT, KTL_E_HANDSHAKE_TIMEOUT },
		{ GNUTLS_E_PUSH_ERROR, EIO },
		{ GNUTLS_E_PULL_ERROR, EIO },
		{ GNUTLS_E_MEMORY_ERROR, ENOMEM },
		{ GNUTLS_E_UNEXPECTED_PACKET, KTL_E_HANDSHAKE },
		{ GNUTLS_E_INTERNAL_ERROR, KTL_E_HANDSHAKE },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (ktl_code_from_gnutls(map[i].g) != map[i].k)
			fail_msg("%s -> %d, want %d", gnutls_strerror(map[i].g), ktl_code_from_gnutls(map[i].g),
				 map[i].k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_code_has_text),
		cmocka_unit_test(test_codes_above_errno),
		cmocka_unit_test(test_errno_passthrough),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_err_returns_negated_code),
		cmocka_unit_test(test_long_message_truncated),
		cmocka_unit_test(test_last_error_per_thread),
		cmocka_unit_test(test_code_from_gnutls),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
