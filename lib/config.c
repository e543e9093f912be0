/* SPDX-License-Identifier: MIT */
/* The configuration object: trust root, own chain and key, CRLs, node-ID
 * lists, priority.  Every loader reads its file now so errors name it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/abstract.h>

#include "internal.h"

/* OID 1.3.132.0.10 (secp256k1) as DER: FISCO BCOS's own tools make such
 * keys and GnuTLS has no support for the curve, so name it. */
static const unsigned char secp256k1_oid[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a };
/* OID 1.2.156.10197.1.301 (SM2), FISCO's national-crypto mode. */
static const unsigned char sm2_oid[] = { 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d };

static const char regen_hint[] = "regenerate the node with ktlink certs (ECDSA P-256, Ed25519 or RSA)";

int ktl_priority_string(unsigned protocols, unsigned ciphers, char *buf, size_t len)
{
	int n;

	if (!protocols)
		protocols = KTL_TLS12 | KTL_TLS13;
	if (!ciphers)
		ciphers = KTL_AES_128_GCM | KTL_AES_256_GCM | KTL_CHACHA20_POLY1305;
	if (protocols & ~(KTL_TLS12 | KTL_TLS13))
		return ktl_err(EINVAL, "unknown protocol bits 0x%x", protocols);
	if (ciphers & ~(KTL_AES_128_GCM | KTL_AES_256_GCM | KTL_CHACHA20_POLY1305))
		return ktl_err(EINVAL, "unknown cipher bits 0x%x", ciphers);
	/* Start from NORMAL for signature algorithms, then keep only what the
	 * kernel can take over: TLS 1.2/1.3, ECDHE, AEAD. */
	n = snprintf(buf, len,
		     "NORMAL:-VERS-ALL%s%s:-CIPHER-ALL%s%s%s:-MAC-ALL:+AEAD:"
		     "-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:"
		     "+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:%%SERVER_PRECEDENCE",
		     protocols & KTL_TLS13 ? ":+VERS-TLS1.3" : "",
		     protocols & KTL_TLS12 ? ":+VERS-TLS1.2" : "",
		     ciphers & KTL_AES_128_GCM ? ":+AES-128-GCM" : "",
		     ciphers & KTL_AES_256_GCM ? ":+AES-256-GCM" : "",
		     ciphers & KTL_CHACHA20_POLY1305 ? ":+CHACHA20-POLY1305" : "");
	if (n < 0 || (size_t)n >= len)
		return ktl_err(ENOSPC, "priority string too long");
	return 0;
}

static int compile_priority(struct ktl_config *cfg, const char *str)
{
	gnutls_priority_t p;
	const char *where = NULL;
	int ret = gnutls_priority_init2(&p, str, &where, 0);

	if (ret < 0)
		return ktl_err(EINVAL, "priority '%s': %s at '%s'", str, gnutls_strerror(ret),
			       where ? where : "?");
	if (cfg->prio)
		gnutls_priority_deinit(cfg->prio);
	cfg->prio = p;
	return 0;
}

KTL_API int ktl_config_new(struct ktl_config **out)
{
	struct ktl_config *cfg;
	char prio[512];
	int ret;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return ktl_err(ENOMEM, "config: out of memory");
	atomic_init(&cfg->refs, 1);
	pthread_mutex_init(&cfg->chain_lock, NULL);
	cfg->hs_timeout_ms = 10000;
	ret = gnutls_certificate_allocate_credentials(&cfg->cred);
	if (ret < 0) {
		free(cfg);
		return ktl_err(ENOMEM, "config: %s", gnutls_strerror(ret));
	}
	ret = ktl_priority_string(0, 0, prio, sizeof(prio));
	if (ret == 0)
		ret = compile_priority(cfg, prio);
	if (ret < 0) {
		ktl_config_free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

void ktl_config_ref(struct ktl_config *cfg)
{
	atomic_fetch_add(&cfg->refs, 1);
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

KTL_API void ktl_config_free(struct ktl_config *cfg)
{
	if (!cfg || atomic_fetch_sub(&cfg->refs, 1) != 1)
		return;
	gnutls_certificate_free_credentials(cfg->cred);
	for (unsigned i = 0; i < cfg->n_ca; i++)
		gnutls_x509_crt_deinit(cfg->ca[i]);
	gnutls_free(cfg->ca);
	for (unsigned i = 0; i < cfg->n_crls; i++)
		gnutls_x509_crl_deinit(cfg->crls[i]);
	free(cfg->crls);
	free_list(cfg->allow, cfg->n_allow);
	free_list(cfg->deny, cfg->n_deny);
	free(cfg->priority);
	if (cfg->prio)
		gnutls_priority_deinit(cfg->prio);
	pthread_mutex_destroy(&cfg->chain_lock);
	free(cfg);
}

/* Reads a whole file; the caller frees d->data with gnutls_free. */
static int read_file(const char *path, const char *what, gnutls_datum_t *d)
{
	struct stat st;
	int ret;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return ktl_err(EISDIR, "%s %s: is a directory", what, path);
	if (stat(path, &st) == 0 && st.st_size == 0)
		return ktl_err(KTL_E_BAD_FILE, "%s %s: file is empty", what, path);
	ret = gnutls_load_file(path, d);

	if (ret < 0) {
		FILE *f = fopen(path, "r");
		int e = f ? EIO : errno;

		if (f)
			fclose(f);
		return ktl_err(e, "%s %s: %s", what, path, strerror(e));
	}
	return 0;
}

static bool has_oid(const gnutls_datum_t *pem, const unsigned char *oid, size_t oid_len)
{
	/* The OID sits in the DER, so decode whichever PEM block is there. */
	static const char *const headers[] = { "PRIVATE KEY", "EC PRIVATE KEY", "CERTIFICATE",
					       "EC PARAMETERS", "PUBLIC KEY" };
	bool found = false;

	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]) && !found; i++) {
		gnutls_datum_t der;

		if (gnutls_pem_base64_decode2(headers[i], pem, &der) < 0)
			continue;
		found = memmem(der.data, der.size, oid, oid_len) != NULL;
		gnutls_free(der.data);
	}
	return found;
}

/* Explains why GnuTLS cannot use a key or certificate file. */
static int unsupported(const char *what, const char *path, const gnutls_datum_t *pem, int gerr)
{
	if (has_oid(pem, secp256k1_oid, sizeof(secp256k1_oid)))
		return ktl_err(KTL_E_UNSUPPORTED_KEY,
			       "%s %s: EC curve secp256k1 is not supported by GnuTLS; %s", what, path,
			       regen_hint);
	if (has_oid(pem, sm2_oid, sizeof(sm2_oid)))
		return ktl_err(KTL_E_UNSUPPORTED_KEY,
			       "%s %s: SM2 (national crypto) keys are not supported by GnuTLS; %s",
			       what, path, regen_hint);
	if (gerr == GNUTLS_E_ECC_UNSUPPORTED_CURVE || gerr == GNUTLS_E_UNKNOWN_PK_ALGORITHM ||
	    gerr == GNUTLS_E_UNIMPLEMENTED_FEATURE)
		return ktl_err(KTL_E_UNSUPPORTED_KEY, "%s %s: %s; %s", what, path,
			       gnutls_strerror(gerr), regen_hint);
	return ktl_err(KTL_E_BAD_FILE, "%s %s: %s", what, path, gnutls_strerror(gerr));
}

/* Parses every certificate of a PEM file, checking each public key is one
 * GnuTLS can use. */
static int load_crts(const char *path, const char *what, gnutls_x509_crt_t **out, unsigned *n)
{
	gnutls_datum_t pem;
	int ret = read_file(path, what, &pem);

	if (ret < 0)
		return ret;
	*out = NULL;
	*n = 0;
	ret = gnutls_x509_crt_list_import2(out, n, &pem, GNUTLS_X509_FMT_PEM, 0);
	if (ret < 0 || *n == 0) {
		ret = ret == GNUTLS_E_BASE64_DECODING_ERROR || ret == GNUTLS_E_NO_CERTIFICATE_FOUND || *n == 0
			      ? ktl_err(KTL_E_BAD_FILE, "%s %s: no PEM certificate found", what, path)
			      : unsupported(what, path, &pem, ret);
		goto out;
	}
	for (unsigned i = 0; i < *n; i++) {
		gnutls_pubkey_t pk;
		int r;

		gnutls_pubkey_init(&pk);
		r = gnutls_pubkey_import_x509(pk, (*out)[i], 0);
		if (r == 0) {
			/* Importing succeeds for curves GnuTLS cannot compute on;
			 * only the curve lookup tells. */
			gnutls_ecc_curve_t curve;

			if (gnutls_pubkey_get_pk_algorithm(pk, NULL) == GNUTLS_PK_ECDSA &&
			    (gnutls_pubkey_export_ecc_raw(pk, &curve, NULL, NULL) < 0 ||
			     curve == GNUTLS_ECC_CURVE_INVALID))
				r = GNUTLS_E_ECC_UNSUPPORTED_CURVE;
		}
		gnutls_pubkey_deinit(pk);
		if (r < 0) {
			ret = unsupported(what, path, &pem, r);
			for (unsigned j = 0; j < *n; j++)
				gnutls_x509_crt_deinit((*out)[j]);
			gnutls_free(*out);
			*out = NULL;
			*n = 0;
			goto out;
		}
	}
	ret = 0;
out:
	gnutls_free(pem.data);
	return ret;
}

static void free_crts(gnutls_x509_crt_t *crts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
}

KTL_API int ktl_config_set_ca(struct ktl_config *cfg, const char *path)
{
	gnutls_x509_crt_t *crts;
	unsigned n;
	int ret;

	if (cfg->n_ca)
		return ktl_err(EEXIST, "CA file %s: a trust root is already loaded (%s)", path,
			       cfg->ca_path);
	ret = load_crts(path, "CA file", &crts, &n);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < n; i++) {
		unsigned ca = 0;

		if (gnutls_x509_crt_get_basic_constraints(crts[i], NULL, &ca, NULL) < 0 || !ca) {
			free_crts(crts, n);
			return ktl_err(KTL_E_BAD_FILE, "CA file %s: certificate %u is not a CA (no CA:TRUE)",
				       path, i + 1);
		}
	}
	/* Only this file is trusted: the system store is never loaded. */
	ret = gnutls_certificate_set_x509_trust(cfg->cred, crts, (int)n);
	if (ret < 0) {
		free_crts(crts, n);
		return ktl_err(KTL_E_BAD_FILE, "CA file %s: %s", path, gnutls_strerror(ret));
	}
	cfg->ca = crts;
	cfg->n_ca = n;
	snprintf(cfg->ca_path, sizeof(cfg->ca_path), "%s", path);
	return 0;
}

static int load_key(const char *path, gnutls_x509_privkey_t *key)
{
	gnutls_datum_t pem;
	int ret = read_file(path, "key file", &pem);

	if (ret < 0)
		return ret;
	gnutls_x509_privkey_init(key);
	ret = gnutls_x509_privkey_import2(*key, &pem, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	if (ret < 0) {
		gnutls_x509_privkey_deinit(*key);
		*key = NULL;
		if (memmem(pem.data, pem.size, "BEGIN CERTIFICATE", 17))
			ret = ktl_err(KTL_E_BAD_FILE, "key file %s: holds a certificate, not a private key", path);
		else if (has_oid(&pem, secp256k1_oid, sizeof(secp256k1_oid)) || has_oid(&pem, sm2_oid, sizeof(sm2_oid)))
			ret = unsupported("key file", path, &pem, ret);
		else if (ret == GNUTLS_E_BASE64_DECODING_ERROR || ret == GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR ||
			 ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || ret == GNUTLS_E_ASN1_DER_ERROR)
			ret = ktl_err(KTL_E_BAD_FILE, "key file %s: no PEM private key found", path);
		else if (ret == GNUTLS_E_DECRYPTION_FAILED)
			ret = ktl_err(KTL_E_BAD_FILE, "key file %s: key is encrypted; store it unencrypted (0600)", path);
		else
			ret = unsupported("key file", path, &pem, ret);
	}
	gnutls_free(pem.data);
	return ret;
}

KTL_API int ktl_config_set_cert_key(struct ktl_config *cfg, const char *chain_path, const char *key_path)
{
	gnutls_x509_crt_t *crts = NULL;
	gnutls_x509_privkey_t key = NULL;
	unsigned n = 0;
	int ret;

	if (cfg->have_cert)
		return ktl_err(EEXIST, "certificate %s: a certificate and key are already loaded", chain_path);
	ret = load_crts(chain_path, "certificate file", &crts, &n);
	if (ret < 0)
		return ret;
	ret = load_key(key_path, &key);
	if (ret < 0)
		goto out;
	if (n < 2) {
		ret = ktl_err(KTL_E_BAD_FILE,
			      "certificate file %s: holds only the node certificate; append the agency "
			      "certificate (node.crt = node then agency)", chain_path);
		goto out;
	}
	for (unsigned i = 0; i + 1 < n; i++) {
		if (!gnutls_x509_crt_check_issuer(crts[i], crts[i + 1])) {
			ret = ktl_err(KTL_E_BAD_FILE,
				      "certificate file %s: certificate %u was not issued by certificate %u; "
				      "order must be node then agency", chain_path, i + 1, i + 2);
			goto out;
		}
	}
	/* The file loader, not set_x509_key(): the latter's key/cert match
	 * check fails for Ed25519 in GnuTLS 3.7.9 and drops the key for TLS 1.2. */
	ret = gnutls_certificate_set_x509_key_file2(cfg->cred, chain_path, key_path, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (ret == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		ret = ktl_err(KTL_E_BAD_FILE, "key file %s: does not match certificate %s", key_path, chain_path);
		goto out;
	}
	if (ret < 0) {
		ret = ktl_err(KTL_E_BAD_FILE, "certificate %s / key %s: %s", chain_path, key_path,
			      gnutls_strerror(ret));
		goto out;
	}
	cfg->have_cert = true;
	cfg->own_pk = gnutls_x509_privkey_get_pk_algorithm(key);
	ret = 0;
out:
	/* The parsed copies served only the checks above. */
	free_crts(crts, n);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return ret;
}

KTL_API int ktl_config_add_crl(struct ktl_config *cfg, const char *path)
{
	gnutls_datum_t pem;
	gnutls_x509_crl_t *crls = NULL, *grown;
	unsigned n = 0;
	int ret = read_file(path, "CRL file", &pem);

	if (ret < 0)
		return ret;
	ret = gnutls_x509_crl_list_import2(&crls, &n, &pem, GNUTLS_X509_FMT_PEM, 0);
	if ((ret < 0 || n == 0) && memmem(pem.data, pem.size, "BEGIN CERTIFICATE", 17)) {
		gnutls_free(pem.data);
		gnutls_free(crls);
		return ktl_err(KTL_E_BAD_FILE, "CRL file %s: holds a certificate, not a CRL", path);
	}
	gnutls_free(pem.data);
	if (ret < 0 || n == 0) {
		gnutls_free(crls);
		return ktl_err(KTL_E_BAD_FILE, "CRL file %s: no PEM X509 CRL found", path);
	}
	grown = realloc(cfg->crls, (cfg->n_crls + n) * sizeof(*grown));
	if (!grown) {
		for (unsigned i = 0; i < n; i++)
			gnutls_x509_crl_deinit(crls[i]);
		gnutls_free(crls);
		return ktl_err(ENOMEM, "CRL file %s: out of memory", path);
	}
	/* Kept here and checked in verify.c against the peer's own agency:
	 * GnuTLS can only authenticate a CRL against a trust anchor, and the
	 * agency that signs it is not one. */
	memcpy(grown + cfg->n_crls, crls, n * sizeof(*crls));
	cfg->crls = grown;
	cfg->n_crls += n;
	gnutls_free(crls);
	return 0;
}

static int add_node(char ***list, size_t *n, const char *id, const char *what)
{
	char norm[KTL_NODE_ID_MAX + 1];
	char **grown;
	int ret = ktl_node_id_normalize(id, norm, sizeof(norm));

	if (ret < 0)
		return ktl_err(-ret, "%s node ID '%.40s%s': %s", what, id, strlen(id) > 40 ? "..." : "",
			       ktl_last_error());
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i], norm) == 0)
			return 0;
	grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown)
		return ktl_err(ENOMEM, "%s list: out of memory", what);
	*list = grown;
	grown[*n] = strdup(norm);
	if (!grown[*n])
		return ktl_err(ENOMEM, "%s list: out of memory", what);
	(*n)++;
	return 0;
}

KTL_API int ktl_config_allow_node(struct ktl_config *cfg, const char *node_id)
{
	return add_node(&cfg->allow, &cfg->n_allow, node_id, "allow");
}

KTL_API int ktl_config_deny_node(struct ktl_config *cfg, const char *node_id)
{
	return add_node(&cfg->deny, &cfg->n_deny, node_id, "deny");
}

KTL_API int ktl_config_set_priority(struct ktl_config *cfg, const char *priority)
{
	char *copy;
	int ret;

	if (!priority || !*priority)
		return ktl_err(EINVAL, "priority: empty string");
	copy = strdup(priority);
	if (!copy)
		return ktl_err(ENOMEM, "priority: out of memory");
	ret = compile_priority(cfg, priority);
	if (ret < 0) {
		free(copy);
		return ret;
	}
	free(cfg->priority);
	cfg->priority = copy;
	return 0;
}

KTL_API int ktl_config_restrict(struct ktl_config *cfg, unsigned protocols, unsigned ciphers)
{
	char prio[512];
	int ret = ktl_priority_string(protocols, ciphers, prio, sizeof(prio));

	if (ret < 0)
		return ret;
	ret = compile_priority(cfg, prio);
	if (ret < 0)
		return ret;
	cfg->protocols = protocols;
	cfg->ciphers = ciphers;
	free(cfg->priority);
	cfg->priority = NULL;
	return 0;
}

KTL_API int ktl_config_check(const struct ktl_config *cfg)
{
	if (!cfg)
		return ktl_err(EINVAL, "config: none given");
	if (!cfg->n_ca)
		return ktl_err(EINVAL, "config: no trust root loaded (ca.crt)");
	if (!cfg->have_cert)
		return ktl_err(EINVAL, "config: no node certificate and key loaded");
	/* GnuTLS 3.7.9 offers no EdDSA signature in a TLS 1.2 certificate
	 * request, so an Ed25519 node cannot authenticate there. */
	if (cfg->own_pk == GNUTLS_PK_EDDSA_ED25519 && cfg->protocols == KTL_TLS12)
		return ktl_err(KTL_E_UNSUPPORTED_KEY,
			       "config: the node key is Ed25519, which GnuTLS %s can use for mutual "
			       "authentication only in TLS 1.3; allow TLS 1.3 or use an ECDSA or RSA key",
			       gnutls_check_version(NULL));
	return 0;
}

KTL_API int ktl_config_set_handshake_timeout(struct ktl_config *cfg, unsigned timeout_ms)
{
	if (timeout_ms == 0)
		return ktl_err(EINVAL, "handshake timeout: must be at least 1 ms");
	cfg->hs_timeout_ms = timeout_ms;
	return 0;
}

KTL_API int ktl_config_set_ktls(struct ktl_config *cfg, enum ktl_ktls_mode mode)
{
	if (mode != KTL_KTLS_AUTO && mode != KTL_KTLS_OFF && mode != KTL_KTLS_REQUIRE)
		return ktl_err(EINVAL, "kTLS mode %d: unknown", (int)mode);
	if (mode == KTL_KTLS_REQUIRE) {
		struct ktl_support sup;

		/* Say so now rather than after every handshake. */
		ktl_probe_support(&sup);
		if (!sup.ktls_ulp)
			return ktl_err(KTL_E_KTLS_UNAVAILABLE,
				       "kTLS required, but this kernel has no kTLS (TCP_ULP tls: %s); "
				       "load the tls module or use kTLS mode auto",
				       strerror(sup.ktls_ulp_err));
	}
	cfg->ktls_mode = mode;
	return 0;
}
