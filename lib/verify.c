/* SPDX-License-Identifier: MIT */
/* Peer chain verification for the FISCO layout: node <- agency <- root.
 *
 * GnuTLS verifies the chain against the loaded root only; we then apply
 * what it does not know (the three-level shape, CRLs signed by the agency,
 * node IDs) and, when it refused, walk the chain again ourselves so the
 * rejection can say which certificate failed and why.  Signatures are
 * checked by us only on that failure path: they dominate handshake cost. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "internal.h"

#define SKIP_TIME_AND_CA (GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS | \
			  GNUTLS_VERIFY_DISABLE_CA_SIGN | GNUTLS_VERIFY_ALLOW_UNSORTED_CHAIN)

struct chain {
	struct ktl_conn *c;
	gnutls_x509_crt_t node, agency, root;
	char node_dn[256], agency_dn[256], root_dn[256];
};

static void dn_of(gnutls_x509_crt_t crt, char *buf, size_t len, int issuer)
{
	size_t n = len;
	int ret = issuer ? gnutls_x509_crt_get_issuer_dn(crt, buf, &n) : gnutls_x509_crt_get_dn(crt, buf, &n);

	if (ret < 0)
		snprintf(buf, len, "?");
}

static int reject(struct chain *ch, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int reject(struct chain *ch, int code, const char *fmt, ...)
{
	struct ktl_conn *c = ch->c;
	char detail[KTL_MSG_MAX - KTL_PEER_MAX - 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	c->verify_code = code;
	snprintf(c->verify_msg, sizeof(c->verify_msg), "peer %s: %s", c->peer, detail);
	return -1;
}

static void fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

static int check_dates(struct chain *ch, gnutls_x509_crt_t crt, const char *role, const char *dn, time_t now)
{
	time_t from = gnutls_x509_crt_get_activation_time(crt);
	time_t to = gnutls_x509_crt_get_expiration_time(crt);
	char when[32];

	if (from != (time_t)-1 && now < from) {
		fmt_time(from, when, sizeof(when));
		return reject(ch, KTL_E_CERT_NOT_YET_VALID, "%s certificate '%s' is not valid until %s", role, dn, when);
	}
	if (to != (time_t)-1 && now > to) {
		fmt_time(to, when, sizeof(when));
		return reject(ch, KTL_E_CERT_EXPIRED, "%s certificate '%s' expired on %s", role, dn, when);
	}
	return 0;
}

static int check_signature(struct chain *ch, gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer,
			   const char *role, const char *dn, const char *issuer_role)
{
	unsigned status = 0;
	int ret = gnutls_x509_crt_verify(crt, &issuer, 1, SKIP_TIME_AND_CA, &status);

	if (ret < 0)
		return reject(ch, KTL_E_CERT_SIGNATURE, "%s certificate '%s': %s", role, dn, gnutls_strerror(ret));
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return reject(ch, KTL_E_CERT_INSECURE, "%s certificate '%s' is signed with an insecure algorithm",
			      role, dn);
	if (status)
		return reject(ch, KTL_E_CERT_SIGNATURE, "%s certificate '%s': signature by the %s does not verify",
			      role, dn, issuer_role);
	return 0;
}

static int check_is_ca(struct chain *ch, gnutls_x509_crt_t crt, const char *role, const char *dn)
{
	unsigned ca = 0, usage = 0;
	int ret = gnutls_x509_crt_get_basic_constraints(crt, NULL, &ca, NULL);

	if (ret < 0 || !ca)
		return reject(ch, KTL_E_CERT_NOT_CA, "%s certificate '%s' is not a CA (%s)", role, dn,
			      ret < 0 ? "no basic constraints" : "CA:FALSE");
	if (gnutls_x509_crt_get_key_usage(crt, &usage, NULL) >= 0 && !(usage & GNUTLS_KEY_KEY_CERT_SIGN))
		return reject(ch, KTL_E_CERT_KEY_USAGE, "%s certificate '%s' lacks keyCertSign key usage", role, dn);
	return 0;
}

/* The node must be usable for our peer's side of TLS. */
static int check_node_usage(struct chain *ch)
{
	const char *want = ch->c->role == KTL_SERVER ? GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER;
	const char *want_name = ch->c->role == KTL_SERVER ? "TLS client" : "TLS server";
	unsigned usage = 0, ca = 0;
	char oid[128];
	bool has_eku = false, ok = false;

	if (gnutls_x509_crt_get_basic_constraints(ch->node, NULL, &ca, NULL) >= 0 && ca)
		return reject(ch, KTL_E_CERT_KEY_USAGE, "node certificate '%s' is a CA certificate, not a node",
			      ch->node_dn);
	if (gnutls_x509_crt_get_key_usage(ch->node, &usage, NULL) >= 0 &&
	    !(usage & (GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_AGREEMENT)))
		return reject(ch, KTL_E_CERT_KEY_USAGE, "node certificate '%s' lacks digitalSignature key usage",
			      ch->node_dn);
	for (unsigned i = 0;; i++) {
		size_t len = sizeof(oid);
		int ret = gnutls_x509_crt_get_key_purpose_oid(ch->node, i, oid, &len, NULL);

		if (ret < 0)
			break;
		has_eku = true;
		if (strcmp(oid, want) == 0 || strcmp(oid, GNUTLS_KP_ANY) == 0)
			ok = true;
	}
	if (has_eku && !ok)
		return reject(ch, KTL_E_CERT_KEY_USAGE, "node certificate '%s' lacks %s extended key usage",
			      ch->node_dn, want_name);
	return 0;
}

static bool serial_in_crl(gnutls_x509_crl_t crl, gnutls_x509_crt_t crt)
{
	unsigned char serial[64], rserial[64];
	size_t slen = sizeof(serial);
	int n = gnutls_x509_crl_get_crt_count(crl);

	if (gnutls_x509_crt_get_serial(crt, serial, &slen) < 0)
		return false;
	for (int i = 0; i < n; i++) {
		size_t rlen = sizeof(rserial);

		if (gnutls_x509_crl_get_crt_serial(crl, i, rserial, &rlen, NULL) == 0 && rlen == slen &&
		    memcmp(serial, rserial, slen) == 0)
			return true;
	}
	return false;
}

/* A CRL counts only when its issuer signed it, so a stray file cannot
 * revoke anyone; the agency that signs node CRLs is known only now. */
static int check_revoked(struct chain *ch, gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer,
			 const char *role, const char *dn)
{
	const struct ktl_config *cfg = ch->c->cfg;

	for (unsigned i = 0; i < cfg->n_crls; i++) {
		unsigned status = 0;

		if (!gnutls_x509_crl_check_issuer(cfg->crls[i], issuer))
			continue;
		if (gnutls_x509_crl_verify(cfg->crls[i], &issuer, 1, SKIP_TIME_AND_CA, &status) < 0 || status)
			continue;
		if (serial_in_crl(cfg->crls[i], crt))
			return reject(ch, KTL_E_CERT_REVOKED, "%s certificate '%s' is revoked by a CRL of '%s'", role,
				      dn, role[0] == 'n' ? ch->agency_dn : ch->root_dn);
	}
	return 0;
}

static bool in_list(char *const *list, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], id) == 0)
			return true;
	return false;
}

static int check_node_id(struct chain *ch)
{
	const struct ktl_config *cfg = ch->c->cfg;
	const char *id = ch->c->peer_node_id;

	if (in_list(cfg->deny, cfg->n_deny, id))
		return reject(ch, KTL_E_NODE_NOT_ALLOWED, "node ID %.16s... of '%s' is on the deny list", id,
			      ch->node_dn);
	if (cfg->n_allow && !in_list(cfg->allow, cfg->n_allow, id))
		return reject(ch, KTL_E_NODE_NOT_ALLOWED, "node ID %.16s... of '%s' is not on the allow list", id,
			      ch->node_dn);
	return 0;
}

/* GnuTLS's verdict with the same trust list: signatures, dates, CA flags,
 * key purpose, name constraints, unknown critical extensions. */
static int gnutls_verdict(struct chain *ch, gnutls_session_t s, unsigned *status)
{
	gnutls_typed_vdata_st data = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (void *)(ch->c->role == KTL_SERVER ? GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER),
	};

	*status = 0;
	return gnutls_certificate_verify_peers(s, &data, 1, status);
}

/* GnuTLS refused but our walk found nothing: report its words. */
static int gnutls_refusal(struct chain *ch, int ret, unsigned status)
{
	gnutls_datum_t text = { 0 };

	if (ret < 0)
		return reject(ch, KTL_E_CERT_REJECTED, "chain of '%s' not verified: %s", ch->node_dn,
			      gnutls_strerror(ret));
	gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0);
	ret = reject(ch, KTL_E_CERT_REJECTED, "chain of '%s' rejected: %s", ch->node_dn,
		     text.data ? (char *)text.data : "unknown reason");
	gnutls_free(text.data);
	return ret;
}

/* SHA-256 over our role and the two certificates, lengths included. */
static int chain_digest(const struct chain *ch, const gnutls_datum_t *raw, unsigned char out[32])
{
	unsigned char head[9] = { (unsigned char)ch->c->role };
	gnutls_hash_hd_t h;

	for (int i = 0; i < 4; i++) {
		head[1 + i] = (unsigned char)(raw[0].size >> (24 - 8 * i));
		head[5 + i] = (unsigned char)(raw[1].size >> (24 - 8 * i));
	}
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -1;
	gnutls_hash(h, head, sizeof(head));
	gnutls_hash(h, raw[0].data, raw[0].size);
	gnutls_hash(h, raw[1].data, raw[1].size);
	gnutls_hash_deinit(h, out);
	return 0;
}

static bool chain_seen(struct ktl_config *cfg, const unsigned char d[32])
{
	bool hit = false;

	pthread_mutex_lock(&cfg->chain_lock);
	for (unsigned i = 0; i < cfg->chain_n && !hit; i++)
		hit = memcmp(cfg->chain_seen[i], d, 32) == 0;
	pthread_mutex_unlock(&cfg->chain_lock);
	return hit;
}

static void chain_remember(struct ktl_config *cfg, const unsigned char d[32])
{
	unsigned n = sizeof(cfg->chain_seen) / sizeof(cfg->chain_seen[0]);

	pthread_mutex_lock(&cfg->chain_lock);
	memcpy(cfg->chain_seen[cfg->chain_next], d, 32);
	cfg->chain_next = (cfg->chain_next + 1) % n;
	if (cfg->chain_n < n)
		cfg->chain_n++;
	pthread_mutex_unlock(&cfg->chain_lock);
}

static bool is_trusted_root(const struct ktl_config *cfg, const gnutls_datum_t *der)
{
	for (unsigned i = 0; i < cfg->n_ca; i++)
		if (gnutls_x509_crt_equals2(cfg->ca[i], der))
			return true;
	return false;
}

static int walk(struct chain *ch, gnutls_session_t s, const gnutls_datum_t *raw, unsigned n)
{
	const struct ktl_config *cfg = ch->c->cfg;
	time_t now = time(NULL);
	int ret;

	dn_of(ch->node, ch->node_dn, sizeof(ch->node_dn), 0);
	dn_of(ch->node, ch->c->peer_issuer, sizeof(ch->c->peer_issuer), 1);
	snprintf(ch->c->peer_subject, sizeof(ch->c->peer_subject), "%s", ch->node_dn);
	if (ktl_node_id_from_crt(ch->node, ch->c->peer_node_id, sizeof(ch->c->peer_node_id)) < 0)
		return reject(ch, KTL_E_UNSUPPORTED_KEY, "node certificate '%s': %s", ch->node_dn, ktl_last_error());

	if (n < 2) {
		for (unsigned i = 0; i < cfg->n_ca; i++)
			if (gnutls_x509_crt_check_issuer(ch->node, cfg->ca[i]))
				return reject(ch, KTL_E_CHAIN_INCOMPLETE,
					      "node certificate '%s' is issued by the root itself; the chain "
					      "must be node, agency, root", ch->node_dn);
		return reject(ch, KTL_E_CHAIN_INCOMPLETE,
			      "sent only its node certificate '%s' without the agency certificate (issuer '%s')",
			      ch->node_dn, ch->c->peer_issuer);
	}
	dn_of(ch->agency, ch->agency_dn, sizeof(ch->agency_dn), 0);
	/* Exactly node and agency (a copy of our own root may follow): with
	 * nothing else on offer, the agency checked below is the one any
	 * accepted path went through. */
	if (n > 3 || (n == 3 && !is_trusted_root(cfg, &raw[2])))
		return reject(ch, KTL_E_CERT_REJECTED,
			      "sent %u certificates; expected its node and agency certificates (optionally "
			      "followed by the trusted root)", n);
	/* A root sent in the agency's place would make a two-level chain. */
	if (gnutls_x509_crt_check_issuer(ch->agency, ch->agency))
		return reject(ch, KTL_E_CHAIN_INCOMPLETE,
			      "sent a self-signed certificate '%s' in place of its agency; the chain must "
			      "be node, agency, root", ch->agency_dn);
	if (!gnutls_x509_crt_check_issuer(ch->node, ch->agency))
		return reject(ch, KTL_E_CERT_UNKNOWN_ISSUER,
			      "node certificate '%s' was not issued by the agency certificate it sent ('%s')",
			      ch->node_dn, ch->agency_dn);
	for (unsigned i = 0; i < cfg->n_ca && !ch->root; i++)
		if (gnutls_x509_crt_check_issuer(ch->agency, cfg->ca[i]))
			ch->root = cfg->ca[i];
	if (!ch->root) {
		char issuer[256];

		dn_of(ch->agency, issuer, sizeof(issuer), 1);
		for (unsigned i = 0; i < cfg->n_ca; i++) {
			char root[256];

			dn_of(cfg->ca[i], root, sizeof(root), 0);
			if (strcmp(root, issuer) == 0)
				return reject(ch, KTL_E_CERT_UNKNOWN_ISSUER,
					      "agency certificate '%s' was issued by another root that is also "
					      "named '%s' (different key), not by the trusted root in %s",
					      ch->agency_dn, issuer, cfg->ca_path);
		}
		return reject(ch, KTL_E_CERT_UNKNOWN_ISSUER,
			      "agency certificate '%s' was issued by '%s', not by the trusted root in %s",
			      ch->agency_dn, issuer, cfg->ca_path);
	}
	dn_of(ch->root, ch->root_dn, sizeof(ch->root_dn), 0);

	unsigned char digest[32];
	bool have_digest = chain_digest(ch, raw, digest) == 0;
	unsigned status = 0;
	int gret = 0;
	bool trusted = have_digest && chain_seen(ch->c->cfg, digest);

	if (!trusted) {
		gret = gnutls_verdict(ch, s, &status);
		trusted = gret == 0 && status == 0;
		if (trusted && have_digest)
			chain_remember(ch->c->cfg, digest);
	}

	if ((ret = check_is_ca(ch, ch->agency, "agency", ch->agency_dn)) ||
	    (ret = check_dates(ch, ch->root, "root", ch->root_dn, now)) ||
	    (ret = check_dates(ch, ch->agency, "agency", ch->agency_dn, now)) ||
	    (ret = check_dates(ch, ch->node, "node", ch->node_dn, now)) ||
	    (!trusted && (ret = check_signature(ch, ch->agency, ch->root, "agency", ch->agency_dn, "root"))) ||
	    (!trusted && (ret = check_signature(ch, ch->node, ch->agency, "node", ch->node_dn, "agency"))) ||
	    (ret = check_node_usage(ch)) ||
	    (ret = check_revoked(ch, ch->agency, ch->root, "agency", ch->agency_dn)) ||
	    (ret = check_revoked(ch, ch->node, ch->agency, "node", ch->node_dn)) ||
	    (ret = check_node_id(ch)))
		return ret;
	return trusted ? 0 : gnutls_refusal(ch, gret, status);
}

int ktl_verify_peer(gnutls_session_t s)
{
	struct ktl_conn *c = gnutls_session_get_ptr(s);
	struct chain ch = { .c = c };
	unsigned n = 0;
	const gnutls_datum_t *raw = gnutls_certificate_get_peers(s, &n);
	int ret;

	if (!raw || n == 0)
		return reject(&ch, KTL_E_NO_PEER_CERT, "sent no certificate");
	gnutls_x509_crt_init(&ch.node);
	if (gnutls_x509_crt_import(ch.node, &raw[0], GNUTLS_X509_FMT_DER) < 0) {
		ret = reject(&ch, KTL_E_CERT_REJECTED, "sent a node certificate that cannot be parsed");
		goto out;
	}
	if (n >= 2) {
		gnutls_x509_crt_init(&ch.agency);
		if (gnutls_x509_crt_import(ch.agency, &raw[1], GNUTLS_X509_FMT_DER) < 0) {
			ret = reject(&ch, KTL_E_CERT_REJECTED, "sent an agency certificate that cannot be parsed");
			goto out;
		}
	}
	ret = walk(&ch, s, raw, n);
out:
	gnutls_x509_crt_deinit(ch.node);
	if (ch.agency)
		gnutls_x509_crt_deinit(ch.agency);
	return ret;
}
