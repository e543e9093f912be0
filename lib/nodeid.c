/* SPDX-License-Identifier: MIT */
/* FISCO BCOS node IDs: the identity a node is allowed or denied by. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "internal.h"

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* GnuTLS may export a coordinate with a leading zero byte or without its
 * leading zeros; FISCO's ID is each coordinate at the curve's full size. */
static int put_coord(const gnutls_datum_t *c, unsigned char *dst, size_t size)
{
	const unsigned char *p = c->data;
	size_t n = c->size;

	while (n > size && *p == 0) {
		p++;
		n--;
	}
	if (n > size)
		return -EINVAL;
	memset(dst, 0, size - n);
	memcpy(dst + size - n, p, n);
	return 0;
}

int ktl_node_id_from_crt(gnutls_x509_crt_t crt, char *out, size_t out_len)
{
	gnutls_pubkey_t pk;
	gnutls_datum_t x = { 0 }, y = { 0 }, der = { 0 };
	gnutls_ecc_curve_t curve;
	unsigned char raw[2 * 66];
	size_t raw_len = 0;
	int alg, ret;

	ret = gnutls_pubkey_init(&pk);
	if (ret < 0)
		return ktl_err(ENOMEM, "node ID: %s", gnutls_strerror(ret));
	ret = gnutls_pubkey_import_x509(pk, crt, 0);
	if (ret < 0) {
		ret = ktl_err(KTL_E_UNSUPPORTED_KEY, "node ID: %s", gnutls_strerror(ret));
		goto out;
	}
	alg = gnutls_pubkey_get_pk_algorithm(pk, NULL);
	if (alg == GNUTLS_PK_ECDSA || alg == GNUTLS_PK_EDDSA_ED25519 || alg == GNUTLS_PK_EDDSA_ED448) {
		ret = gnutls_pubkey_export_ecc_raw2(pk, &curve, &x, alg == GNUTLS_PK_ECDSA ? &y : NULL, 0);
		if (ret < 0) {
			ret = ktl_err(KTL_E_UNSUPPORTED_KEY, "node ID: %s", gnutls_strerror(ret));
			goto out;
		}
		size_t size = gnutls_ecc_curve_get_size(curve);

		if (size == 0 || size > 66 || put_coord(&x, raw, size) < 0 ||
		    (alg == GNUTLS_PK_ECDSA && put_coord(&y, raw + size, size) < 0)) {
			ret = ktl_err(KTL_E_UNSUPPORTED_KEY, "node ID: unexpected EC point size");
			goto out;
		}
		raw_len = alg == GNUTLS_PK_ECDSA ? 2 * size : size;
	} else if (alg == GNUTLS_PK_RSA || alg == GNUTLS_PK_RSA_PSS) {
		ret = gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &der);
		if (ret == 0)
			ret = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, raw);
		if (ret < 0) {
			ret = ktl_err(KTL_E_UNSUPPORTED_KEY, "node ID: %s", gnutls_strerror(ret));
			goto out;
		}
		raw_len = 32;
	} else {
		ret = ktl_err(KTL_E_UNSUPPORTED_KEY, "node ID: public key algorithm %s not supported",
			      gnutls_pk_get_name(alg) ? gnutls_pk_get_name(alg) : "unknown");
		goto out;
	}
	if (out_len < 2 * raw_len + 1) {
		ret = ktl_err(ENOSPC, "node ID: buffer of %zu bytes too small", out_len);
		goto out;
	}
	to_hex(raw, raw_len, out);
	ret = 0;
out:
	gnutls_free(x.data);
	gnutls_free(y.data);
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pk);
	return ret;
}

int ktl_node_id_normalize(const char *in, char *out, size_t out_len)
{
	size_t n = strlen(in);

	/* FISCO prints IDs bare; people paste them with 0x or spaces. */
	while (n && isspace((unsigned char)in[n - 1]))
		n--;
	while (n && isspace((unsigned char)*in)) {
		in++;
		n--;
	}
	if (n >= 2 && in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) {
		in += 2;
		n -= 2;
	}
	if (n == 0)
		return ktl_err(EINVAL, "empty");
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)in[i]))
			return ktl_err(EINVAL, "'%c' at position %zu is not hex", in[i], i + 1);
	/* Exact lengths only: IDs are compared whole, so a truncated entry
	 * would match nobody and deny nothing. */
	if (n != 128 && n != 64)
		return ktl_err(EINVAL,
			       "%zu hex characters; a node ID has 128 (ECDSA P-256) or 64 (Ed25519, RSA)", n);
	if (out_len < n + 1)
		return ktl_err(ENOSPC, "buffer too small");
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
	return 0;
}

KTL_API int ktl_node_id_from_file(const char *cert_path, char *out, size_t out_len)
{
	gnutls_datum_t pem;
	gnutls_x509_crt_t crt;
	FILE *f = fopen(cert_path, "r");
	int ret;

	/* fopen first, so the error names the real cause (ENOENT, EACCES). */
	if (!f)
		return ktl_err(errno, "certificate file %s: %s", cert_path, strerror(errno));
	fclose(f);
	ret = gnutls_load_file(cert_path, &pem);
	if (ret < 0)
		return ktl_err(EIO, "certificate file %s: cannot read", cert_path);
	gnutls_x509_crt_init(&crt);
	ret = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM);
	gnutls_free(pem.data);
	if (ret < 0) {
		gnutls_x509_crt_deinit(crt);
		return ktl_err(KTL_E_BAD_FILE, "certificate file %s: %s", cert_path, gnutls_strerror(ret));
	}
	ret = ktl_node_id_from_crt(crt, out, out_len);
	if (ret == -KTL_E_UNSUPPORTED_KEY) {
		char oid[128];
		size_t len = sizeof(oid);

		/* Name the curve FISCO's own tools use, with the way out. */
		if (gnutls_x509_crt_get_pk_oid(crt, oid, &len) >= 0 && strstr(oid, "1.2.840.10045.2.1")) {
			gnutls_datum_t der = { 0 };

			if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) == 0 &&
			    memmem(der.data, der.size, "\x06\x05\x2b\x81\x04\x00\x0a", 7))
				ktl_err(KTL_E_UNSUPPORTED_KEY,
					"EC curve secp256k1 is not supported by GnuTLS; regenerate the node "
					"with certs/ktlink-certs.sh (ECDSA P-256, Ed25519 or RSA)");
			gnutls_free(der.data);
		}
	}
	gnutls_x509_crt_deinit(crt);
	if (ret < 0)
		return ktl_err(-ret, "certificate file %s: %s", cert_path, ktl_last_error());
	return 0;
}
