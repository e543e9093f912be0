/* SPDX-License-Identifier: MIT */
/* GnuTLS record state -> the kernel's tls12_crypto_info_* (one direction). */
#include <errno.h>
#include <string.h>

#include "ktls_int.h"

unsigned ktl_cipher_mask(gnutls_cipher_algorithm_t cipher)
{
	switch (cipher) {
	case GNUTLS_CIPHER_AES_128_GCM:
		return KTL_AES_128_GCM;
	case GNUTLS_CIPHER_AES_256_GCM:
		return KTL_AES_256_GCM;
	case GNUTLS_CIPHER_CHACHA20_POLY1305:
		return KTL_CHACHA20_POLY1305;
	default:
		return 0;
	}
}

/* AES-GCM: the kernel's nonce is salt(4) || iv(8).  TLS 1.3 splits GnuTLS's
 * 12-byte IV that way and XORs in rec_seq itself.  TLS 1.2 keeps only the
 * 4-byte implicit salt in GnuTLS; the 8-byte explicit part is what TX writes
 * on the wire and increments per record, so it starts at the sequence
 * number, as GnuTLS does, which keeps it unique under this key. */
static int build_gcm(unsigned char *salt, unsigned char *ivf, unsigned char *keyf, size_t keylen,
		     unsigned char *rec_seq, gnutls_protocol_t proto, const gnutls_datum_t *key,
		     const gnutls_datum_t *iv, const unsigned char seq[8])
{
	if (key->size != keylen)
		return -EINVAL;
	if (proto == GNUTLS_TLS1_3) {
		if (iv->size != 12)
			return -EINVAL;
		memcpy(salt, iv->data, 4);
		memcpy(ivf, iv->data + 4, 8);
	} else {
		if (iv->size != 4)
			return -EINVAL;
		memcpy(salt, iv->data, 4);
		memcpy(ivf, seq, 8);
	}
	memcpy(keyf, key->data, keylen);
	memcpy(rec_seq, seq, 8);
	return 0;
}

int ktl_crypto_info_build(struct ktl_crypto_info *out, gnutls_protocol_t proto,
			  gnutls_cipher_algorithm_t cipher, const gnutls_datum_t *key,
			  const gnutls_datum_t *iv, const unsigned char seq[8])
{
	int ret;

	memset(out, 0, sizeof(*out));
	if (proto != GNUTLS_TLS1_2 && proto != GNUTLS_TLS1_3)
		return -EPROTONOSUPPORT;
	out->u.info.version = proto == GNUTLS_TLS1_3 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	switch (cipher) {
	case GNUTLS_CIPHER_AES_128_GCM: {
		struct tls12_crypto_info_aes_gcm_128 *g = &out->u.gcm128;

		g->info.cipher_type = TLS_CIPHER_AES_GCM_128;
		out->len = sizeof(*g);
		ret = build_gcm(g->salt, g->iv, g->key, sizeof(g->key), g->rec_seq, proto, key, iv, seq);
		break;
	}
	case GNUTLS_CIPHER_AES_256_GCM: {
		struct tls12_crypto_info_aes_gcm_256 *g = &out->u.gcm256;

		g->info.cipher_type = TLS_CIPHER_AES_GCM_256;
		out->len = sizeof(*g);
		ret = build_gcm(g->salt, g->iv, g->key, sizeof(g->key), g->rec_seq, proto, key, iv, seq);
		break;
	}
	case GNUTLS_CIPHER_CHACHA20_POLY1305: {
		/* RFC 7905 and 8446 both use the full 12-byte IV XOR seq: no
		 * salt, no explicit nonce, same layout for 1.2 and 1.3. */
		struct tls12_crypto_info_chacha20_poly1305 *g = &out->u.chacha;

		g->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		out->len = sizeof(*g);
		if (key->size != sizeof(g->key) || iv->size != sizeof(g->iv)) {
			ret = -EINVAL;
			break;
		}
		memcpy(g->key, key->data, sizeof(g->key));
		memcpy(g->iv, iv->data, sizeof(g->iv));
		memcpy(g->rec_seq, seq, sizeof(g->rec_seq));
		ret = 0;
		break;
	}
	default:
		ret = -EPROTONOSUPPORT;
		break;
	}
	if (ret < 0)
		ktl_crypto_info_wipe(out);
	return ret;
}

int ktl_crypto_info_from_session(struct ktl_crypto_info *out, gnutls_session_t s, int read)
{
	gnutls_datum_t mac, iv, key;
	unsigned char seq[8];
	int ret;

	ret = gnutls_record_get_state(s, read ? 1 : 0, &mac, &iv, &key, seq);
	if (ret < 0) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	/* The datums point into the session; nothing to free. */
	ret = ktl_crypto_info_build(out, gnutls_protocol_get_version(s), gnutls_cipher_get(s), &key, &iv,
				    seq);
	gnutls_memset(seq, 0, sizeof(seq));
	return ret;
}

void ktl_crypto_info_wipe(struct ktl_crypto_info *ci)
{
	gnutls_memset(ci, 0, sizeof(*ci));
}
