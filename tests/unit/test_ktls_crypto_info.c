/* SPDX-License-Identifier: MIT */
/* The kernel crypto_info built from GnuTLS record state, per protocol x
 * cipher, from synthetic state: no kernel and no handshake needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ktls_int.h"

static unsigned char key_bytes[32], iv_bytes[12];
static const unsigned char seq[8] = { 0, 0, 0, 0, 0, 0, 0x01, 0x02 };

static void fill(void)
{
	for (unsigned i = 0; i < sizeof(key_bytes); i++)
		key_bytes[i] = (unsigned char)(0x10 + i);
	for (unsigned i = 0; i < sizeof(iv_bytes); i++)
		iv_bytes[i] = (unsigned char)(0xa0 + i);
}

static int build(struct ktl_crypto_info *ci, gnutls_protocol_t p, gnutls_cipher_algorithm_t c, unsigned klen,
		 unsigned ivlen)
{
	gnutls_datum_t key = { key_bytes, klen }, iv = { iv_bytes, ivlen };

	fill();
	return ktl_crypto_info_build(ci, p, c, &key, &iv, seq);
}

static void gcm_case(gnutls_protocol_t p, gnutls_cipher_algorithm_t c, unsigned klen)
{
	struct ktl_crypto_info ci;
	/* Both GCM structs share the layout up to the key, which differs in size. */
	const unsigned char *salt, *iv, *key, *rec;

	assert_int_equal(build(&ci, p, c, klen, p == GNUTLS_TLS1_3 ? 12 : 4), 0);
	assert_int_equal(ci.u.info.version, p == GNUTLS_TLS1_3 ? TLS_1_3_VERSION : TLS_1_2_VERSION);
	if (klen == 16) {
		assert_int_equal(ci.u.info.cipher_type, TLS_CIPHER_AES_GCM_128);
		assert_int_equal(ci.len, sizeof(struct tls12_crypto_info_aes_gcm_128));
		assert_int_equal(ci.len, 40);
		salt = ci.u.gcm128.salt, iv = ci.u.gcm128.iv, key = ci.u.gcm128.key, rec = ci.u.gcm128.rec_seq;
	} else {
		assert_int_equal(ci.u.info.cipher_type, TLS_CIPHER_AES_GCM_256);
		assert_int_equal(ci.len, sizeof(struct tls12_crypto_info_aes_gcm_256));
		assert_int_equal(ci.len, 56);
		salt = ci.u.gcm256.salt, iv = ci.u.gcm256.iv, key = ci.u.gcm256.key, rec = ci.u.gcm256.rec_seq;
	}
	assert_memory_equal(key, key_bytes, klen);
	assert_memory_equal(salt, iv_bytes, 4);
	if (p == GNUTLS_TLS1_3)
		assert_memory_equal(iv, iv_bytes + 4, 8);   /* rest of the static IV */
	else
		assert_memory_equal(iv, seq, 8);            /* explicit nonce starts at seq */
	assert_memory_equal(rec, seq, 8);
	ktl_crypto_info_wipe(&ci);
	assert_int_equal(ci.u.info.version, 0);
	assert_int_equal(ci.len, 0);
}

static void tls12_aes128(void **st) { gcm_case(GNUTLS_TLS1_2, GNUTLS_CIPHER_AES_128_GCM, 16); }
static void tls12_aes256(void **st) { gcm_case(GNUTLS_TLS1_2, GNUTLS_CIPHER_AES_256_GCM, 32); }
static void tls13_aes128(void **st) { gcm_case(GNUTLS_TLS1_3, GNUTLS_CIPHER_AES_128_GCM, 16); }
static void tls13_aes256(void **st) { gcm_case(GNUTLS_TLS1_3, GNUTLS_CIPHER_AES_256_GCM, 32); }

static void chacha_case(gnutls_protocol_t p)
{
	struct ktl_crypto_info ci;

	assert_int_equal(build(&ci, p, GNUTLS_CIPHER_CHACHA20_POLY1305, 32, 12), 0);
	assert_int_equal(ci.u.info.version, p == GNUTLS_TLS1_3 ? TLS_1_3_VERSION : TLS_1_2_VERSION);
	assert_int_equal(ci.u.info.cipher_type, TLS_CIPHER_CHACHA20_POLY1305);
	assert_int_equal(ci.len, sizeof(struct tls12_crypto_info_chacha20_poly1305));
	assert_int_equal(ci.len, 56);
	assert_memory_equal(ci.u.chacha.key, key_bytes, 32);
	assert_memory_equal(ci.u.chacha.iv, iv_bytes, 12);
	assert_memory_equal(ci.u.chacha.rec_seq, seq, 8);
	ktl_crypto_info_wipe(&ci);
}

static void tls12_chacha(void **st) { chacha_case(GNUTLS_TLS1_2); }
static void tls13_chacha(void **st) { chacha_case(GNUTLS_TLS1_3); }

static void bad_sizes(void **st)
{
	struct ktl_crypto_info ci;

	/* TLS 1.2 GCM must come with the 4-byte implicit IV only. */
	assert_int_equal(build(&ci, GNUTLS_TLS1_2, GNUTLS_CIPHER_AES_128_GCM, 16, 12), -EINVAL);
	assert_int_equal(build(&ci, GNUTLS_TLS1_3, GNUTLS_CIPHER_AES_128_GCM, 16, 4), -EINVAL);
	assert_int_equal(build(&ci, GNUTLS_TLS1_3, GNUTLS_CIPHER_AES_256_GCM, 16, 12), -EINVAL);
	assert_int_equal(build(&ci, GNUTLS_TLS1_2, GNUTLS_CIPHER_CHACHA20_POLY1305, 32, 4), -EINVAL);
	/* Nothing of the key may be left behind after a refusal. */
	for (size_t i = 0; i < sizeof(ci); i++)
		assert_int_equal(((unsigned char *)&ci)[i], 0);
}

static void unsupported(void **st)
{
	struct ktl_crypto_info ci;

	assert_int_equal(build(&ci, GNUTLS_TLS1_1, GNUTLS_CIPHER_AES_128_GCM, 16, 4), -EPROTONOSUPPORT);
	assert_int_equal(build(&ci, GNUTLS_TLS1_3, GNUTLS_CIPHER_AES_128_CBC, 16, 12), -EPROTONOSUPPORT);
	assert_int_equal(ktl_cipher_mask(GNUTLS_CIPHER_AES_128_CCM), 0);
	assert_int_equal(ktl_cipher_mask(GNUTLS_CIPHER_CHACHA20_POLY1305), KTL_CHACHA20_POLY1305);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tls12_aes128), cmocka_unit_test(tls12_aes256), cmocka_unit_test(tls12_chacha),
		cmocka_unit_test(tls13_aes128), cmocka_unit_test(tls13_aes256), cmocka_unit_test(tls13_chacha),
		cmocka_unit_test(bad_sizes),    cmocka_unit_test(unsupported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
