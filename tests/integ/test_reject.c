/* SPDX-License-Identifier: MIT */
/* The rejection matrix: every way a link must be refused, over loopback
 * with real handshakes.  For each case the verifying side's exact code and
 * the part of its message that says which certificate and why, the other
 * side's failure, and that no application byte crosses the link.
 *
 * DNs appear as GnuTLS prints them (RFC 4514: last RDN first, so the
 * fixtures' "CN=x,O=y,OU=ktlink" reads "OU=ktlink,O=y,CN=x").
 *
 * Ordering, so nothing depends on a race: each side's socket is dup()ed
 * before the library takes it, so a side that fails and closes does not
 * send FIN or RST before its alert has been read; the test sends the FIN
 * itself with shutdown() once the failing side is done.  A side blocked on
 * a peer that sent no alert therefore sees end of stream, never hangs.
 *
 * Who learns what, and when:
 *  - bad server certificate (TLS 1.2 and 1.3): the client verifies before
 *    it sends its Finished, so both handshakes fail: the client with the
 *    reason, the server with -KTL_E_PEER_REJECTED_US;
 *  - bad client certificate, TLS 1.2: the server verifies before its own
 *    Finished, so the client's handshake fails with -KTL_E_PEER_REJECTED_US;
 *  - bad client certificate, TLS 1.3: the client's handshake is complete
 *    when it sends its Finished, before the server has verified anything;
 *    ktl_connect succeeds and the refusal arrives with the first ktl_recv
 *    as -KTL_E_PEER_REJECTED_US.  Its marker is sent into a link whose
 *    server never returns a connection.
 *
 * The side with the bad chain trusts the good side's root, so only the
 * side under test refuses.  Peers ktlink never is (no certificate, a leaf
 * alone, TLS 1.1, CBC) are GnuTLS sessions built here; a few certificates
 * and CRLs are made at run time with certtool (gnutls-bin, which
 * tests/fixtures.sh needs anyway). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static const char marker[] = "MARKER: application data that must never be delivered";

#define GOOD "ecdsa/agency0/node0"

/* ---- helpers ------------------------------------------------------------ */

static void assert_msg(const char *msg, const char *frag)
{
	if (!frag)
		return;
	if (!strstr(msg, frag))
		fail_msg("message '%s' lacks '%s'", msg, frag);
}

/* Peer fn that runs only if a handshake that must fail succeeded: send the
 * marker and report what comes back, so the failure message says so. */
static void leak_fn(struct tu_peer *p, struct ktl_conn *c)
{
	char buf[128];

	p->fn_rc = 1;
	ktl_send(c, marker, sizeof(marker));
	ktl_recv(c, buf, sizeof(buf));
}

static struct ktl_config *config_for(const char *dir, unsigned proto)
{
	struct ktl_config *cfg = tu_config(dir);

	assert_int_equal(ktl_config_restrict(cfg, proto, 0), 0);
	return cfg;
}

struct rcase {
	const char *bad_dir;            /* node dir of the side with the bad chain */
	bool bad_is_client;
	unsigned proto;                 /* KTL_TLS12 or KTL_TLS13 */
	int code;                       /* expected on the verifying side (positive) */
	const char *frag1, *frag2;      /* in the verifying side's message */
	void (*tweak)(struct ktl_config *verifier);
};

/* The bad side's config: its chain and key, and the good side's root, so
 * that it accepts the good side and only the verifier under test refuses. */
static struct ktl_config *bad_config(const char *dir, unsigned proto)
{
	struct ktl_config *cfg;
	char crt[512], key[512];

	assert_int_equal(ktl_config_new(&cfg), 0);
	if (ktl_config_set_ca(cfg, tu_fixture(GOOD "/ca.crt")) != 0)
		fail_msg("%s", ktl_last_error());
	snprintf(crt, sizeof(crt), "%s/node.crt", tu_fixture(dir));
	snprintf(key, sizeof(key), "%s/node.key", tu_fixture(dir));
	if (ktl_config_set_cert_key(cfg, crt, key) != 0)
		fail_msg("%s", ktl_last_error());
	assert_int_equal(ktl_config_restrict(cfg, proto, 0), 0);
	return cfg;
}

/* The bad chain is the client's: the server (a tu_peer) verifies. */
static void run_bad_client(const struct rcase *k)
{
	struct ktl_config *scfg = config_for(GOOD, k->proto), *ccfg = bad_config(k->bad_dir, k->proto);
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER, .fn = leak_fn };
	struct ktl_conn *c = NULL;
	char buf[128];
	int cfd, skeep, rc;

	if (k->tweak)
		k->tweak(scfg);
	tu_tcp_pair(&cfd, &srv.fd);
	skeep = dup(srv.fd);
	assert_true(skeep >= 0);
	tu_peer_start(&srv);

	rc = ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT);
	if (k->proto == KTL_TLS12) {
		if (rc != -KTL_E_PEER_REJECTED_US)
			fail_msg("client rc %d (%s): %s", rc, ktl_strerror(rc), ktl_last_error());
		assert_msg(ktl_last_error(), "rejected our certificate during the handshake");
	} else {
		/* TLS 1.3: complete on our side; the server has not spoken yet. */
		if (rc != 0)
			fail_msg("client rc %d (%s): %s", rc, ktl_strerror(rc), ktl_last_error());
		/* The server's socket is held open by skeep: this cannot fail. */
		assert_int_equal(ktl_send(c, marker, sizeof(marker)), (ssize_t)sizeof(marker));
	}
	tu_peer_join(&srv);
	if (srv.fn_rc)
		fail_msg("server accepted the link and ran its application");
	if (srv.rc != -k->code)
		fail_msg("server rc %d (%s), want -%d (%s): %s", srv.rc, ktl_strerror(srv.rc), k->code,
			 ktl_strerror(k->code), srv.err);
	assert_msg(srv.err, k->frag1);
	assert_msg(srv.err, k->frag2);
	assert_msg(srv.err, "peer 127.0.0.1:");
	/* The server is gone; its FIN follows the alert it sent. */
	shutdown(skeep, SHUT_WR);
	if (c) {
		ssize_t n = ktl_recv(c, buf, sizeof(buf));

		if (n != -KTL_E_PEER_REJECTED_US)
			fail_msg("client first recv %zd (%s): %s", n, ktl_strerror((int)n), ktl_last_error());
		assert_msg(ktl_last_error(), "rejected our certificate while receiving");
		/* Sticky. */
		assert_int_equal(ktl_recv(c, buf, sizeof(buf)), -KTL_E_PEER_REJECTED_US);
		ktl_close(c);
	}
	close(skeep);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

/* The bad chain is the server's: the client (this thread) verifies. */
static void run_bad_server(const struct rcase *k)
{
	struct ktl_config *scfg = bad_config(k->bad_dir, k->proto), *ccfg = config_for(GOOD, k->proto);
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER, .fn = leak_fn };
	struct ktl_conn *c = NULL;
	char msg[512];
	int cfd, ckeep, rc;

	if (k->tweak)
		k->tweak(ccfg);
	tu_tcp_pair(&cfd, &srv.fd);
	ckeep = dup(cfd);
	assert_true(ckeep >= 0);
	tu_peer_start(&srv);

	rc = ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT);
	snprintf(msg, sizeof(msg), "%s", ktl_last_error());
	shutdown(ckeep, SHUT_WR);
	tu_peer_join(&srv);
	close(ckeep);
	if (rc != -k->code)
		fail_msg("client rc %d (%s), want -%d (%s): %s", rc, ktl_strerror(rc), k->code,
			 ktl_strerror(k->code), msg);
	assert_null(c);
	assert_msg(msg, k->frag1);
	assert_msg(msg, k->frag2);
	if (srv.fn_rc)
		fail_msg("server completed the handshake and sent application data");
	if (srv.rc != -KTL_E_PEER_REJECTED_US)
		fail_msg("server rc %d (%s): %s", srv.rc, ktl_strerror(srv.rc), srv.err);
	assert_msg(srv.err, "rejected our certificate during the handshake");
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

static void run_case(const struct rcase *k)
{
	if (k->bad_is_client)
		run_bad_client(k);
	else
		run_bad_server(k);
}

/* One test per case x side x version. */
#define CASE(name, dir, code, f1, f2, tweak)                                                  \
	static void test_##name##_client_tls13(void **state)                                  \
	{                                                                                     \
		(void)state;                                                                  \
		struct rcase k = { dir, true, KTL_TLS13, code, f1, f2, tweak };               \
		run_case(&k);                                                                 \
	}                                                                                     \
	static void test_##name##_client_tls12(void **state)                                  \
	{                                                                                     \
		(void)state;                                                                  \
		struct rcase k = { dir, true, KTL_TLS12, code, f1, f2, tweak };               \
		run_case(&k);                                                                 \
	}                                                                                     \
	static void test_##name##_server_tls13(void **state)                                  \
	{                                                                                     \
		(void)state;                                                                  \
		struct rcase k = { dir, false, KTL_TLS13, code, f1, f2, tweak };              \
		run_case(&k);                                                                 \
	}                                                                                     \
	static void test_##name##_server_tls12(void **state)                                  \
	{                                                                                     \
		(void)state;                                                                  \
		struct rcase k = { dir, false, KTL_TLS12, code, f1, f2, tweak };              \
		run_case(&k);                                                                 \
	}
#define ENTRIES(name)                                                                         \
	cmocka_unit_test(test_##name##_client_tls13), cmocka_unit_test(test_##name##_client_tls12), \
	cmocka_unit_test(test_##name##_server_tls13), cmocka_unit_test(test_##name##_server_tls12)

/* ---- chain cases -------------------------------------------------------- */

CASE(wrong_root, "other-root/agency0/node0", KTL_E_CERT_UNKNOWN_ISSUER,
     "agency certificate 'OU=ktlink,O=agency0,CN=agency0' was issued by another root that is "
     "also named 'CN=ktlink-root' (different key), not by the trusted root in ", "/" GOOD "/ca.crt", NULL)
CASE(expired_node, "bad/expired-node", KTL_E_CERT_EXPIRED,
     "node certificate 'OU=ktlink,O=agency0,CN=expired-node' expired on ", " UTC", NULL)
CASE(expired_agency, "bad/expired-agency", KTL_E_CERT_EXPIRED,
     "agency certificate 'OU=ktlink,O=agency-exp,CN=agency-exp' expired on ", " UTC", NULL)
CASE(future_node, "bad/future-node", KTL_E_CERT_NOT_YET_VALID,
     "node certificate 'OU=ktlink,O=agency0,CN=future-node' is not valid until ", " UTC", NULL)
CASE(agency_not_ca, "bad/agency-not-ca", KTL_E_CERT_NOT_CA,
     "agency certificate 'OU=ktlink,O=agency-not-ca,CN=agency-not-ca' is not a CA", "(CA:FALSE)", NULL)
CASE(unknown_agency, "bad/unknown-agency", KTL_E_CERT_UNKNOWN_ISSUER,
     "agency certificate 'OU=ktlink,O=agency0,CN=agency0' was issued by another root that is "
     "also named 'CN=ktlink-root' (different key), not by the trusted root in ", "/" GOOD "/ca.crt", NULL)

/* ---- CRL ---------------------------------------------------------------- */

static void add_revoked_crl(struct ktl_config *cfg)
{
	assert_int_equal(ktl_config_add_crl(cfg, tu_fixture("ecdsa/agency0/revoked.crl")), 0);
}

CASE(revoked, "ecdsa/agency0/node1", KTL_E_CERT_REVOKED,
     "node certificate 'OU=ktlink,O=agency0,CN=node1' is revoked by a CRL of 'OU=ktlink,O=agency0,CN=agency0'",
     NULL, add_revoked_crl)

/* The CRL names node1 only: node0 still passes, and the empty agency.crl
 * revokes nobody. */
/* One link between two configs: the server's result and message, and
 * the client's result (TLS 1.2 clients hear the verdict in the handshake). */
static int link_cfgs(struct ktl_config *scfg, struct ktl_config *ccfg, int *client_rc, char *err, size_t errlen)
{
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER };
	struct ktl_conn *c = NULL;
	int cfd;

	tu_tcp_pair(&cfd, &srv.fd);
	tu_peer_start(&srv);
	*client_rc = ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT);
	if (*client_rc != 0)
		snprintf(err, errlen, "client: %s", ktl_last_error());
	ktl_close(c);
	tu_peer_join(&srv);
	if (srv.rc != 0)
		snprintf(err, errlen, "%s", srv.err);
	return srv.rc;
}

/* Both ends succeed. */
static void link_cfgs_ok(struct ktl_config *scfg, struct ktl_config *ccfg)
{
	char err[512] = "";
	int crc, src = link_cfgs(scfg, ccfg, &crc, err, sizeof(err));

	if (crc != 0 || src != 0)
		fail_msg("client rc %d, server rc %d: %s", crc, src, err);
}

static void link_ok(const char *server_dir, const char *client_dir, void (*stweak)(struct ktl_config *))
{
	struct ktl_config *scfg = tu_config(server_dir), *ccfg = tu_config(client_dir);

	if (stweak)
		stweak(scfg);
	link_cfgs_ok(scfg, ccfg);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

static void add_agency_crl(struct ktl_config *cfg)
{
	assert_int_equal(ktl_config_add_crl(cfg, tu_fixture("ecdsa/agency0/agency.crl")), 0);
}

static void test_crl_empty_passes(void **state)
{
	(void)state;
	link_ok(GOOD, "ecdsa/agency0/node1", add_agency_crl);
}

static void test_crl_other_node_passes(void **state)
{
	(void)state;
	/* node0 as client against a server holding the CRL that revokes node1. */
	link_ok("ecdsa/agency0/node1", GOOD, add_revoked_crl);
}

/* A CRL listing node1, made now with certtool and signed by `agency`
 * (a directory holding agency.crt and agency.key); returns its path. */
static const char *make_crl(const char *agency, const char *name)
{
	static char out[2][128];
	static int next;
	char *o = out[next++ % 2];
	char leaf[128], tmpl[128], cmd[2048], *pem = NULL, *end;
	size_t len = 0;
	FILE *f = fopen(tu_fixture("ecdsa/agency0/node1/node.crt"), "r");

	assert_non_null(f);
	assert_true(getdelim(&pem, &len, '\0', f) > 0);
	fclose(f);
	end = strstr(pem, "-----END CERTIFICATE-----");
	assert_non_null(end);
	end[strlen("-----END CERTIFICATE-----")] = '\0';
	snprintf(leaf, sizeof(leaf), "/tmp/ktl-reject-%d-node1.crt", (int)getpid());
	snprintf(tmpl, sizeof(tmpl), "/tmp/ktl-reject-%d-crl.tmpl", (int)getpid());
	snprintf(o, sizeof(out[0]), "/tmp/ktl-reject-%d-%s.crl", (int)getpid(), name);
	f = fopen(leaf, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", pem);
	fclose(f);
	free(pem);
	f = fopen(tmpl, "w");
	assert_non_null(f);
	fprintf(f, "crl_next_update = 30\ncrl_number = 7\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "certtool --generate-crl --load-ca-privkey %s/agency.key --load-ca-certificate %s/agency.crt "
		 "--load-certificate %s --template %s --no-text --outfile %s >/dev/null 2>&1",
		 tu_fixture(agency), tu_fixture(agency), leaf, tmpl, o);
	if (system(cmd) != 0)
		fail_msg("certtool failed: %s", cmd);
	unlink(leaf);
	unlink(tmpl);
	return o;
}

static const char *crl_to_add;

static void add_made_crl(struct ktl_config *cfg)
{
	assert_int_equal(ktl_config_add_crl(cfg, crl_to_add), 0);
}

/* Control for the next test: made the same way by the real agency0, the
 * CRL revokes node1. */
static void test_crl_made_by_agency_revokes(void **state)
{
	(void)state;
	struct rcase k = { "ecdsa/agency0/node1", true, KTL_TLS13, KTL_E_CERT_REVOKED,
			   "node certificate 'OU=ktlink,O=agency0,CN=node1' is revoked", NULL, add_made_crl };

	crl_to_add = make_crl("ecdsa/agency0", "real");
	run_case(&k);
	unlink(crl_to_add);
}

/* The other root's agency0 has the very same DN as ours but another key:
 * its CRL naming node1's serial does not verify against our agency0 and
 * revokes nobody. */
static void test_crl_forged_ignored(void **state)
{
	(void)state;
	crl_to_add = make_crl("other-root/agency0", "forged");
	link_ok(GOOD, "ecdsa/agency0/node1", add_made_crl);
	unlink(crl_to_add);
}

/* ---- node ID lists ------------------------------------------------------ */

static const char *node_id_of(const char *dir)
{
	static char ids[4][KTL_NODE_ID_MAX + 1];
	static int next;
	char *id = ids[next++ % 4];
	char path[512];

	snprintf(path, sizeof(path), "%s/node.crt", tu_fixture(dir));
	if (ktl_node_id_from_file(path, id, sizeof(ids[0])) != 0)
		fail_msg("%s", ktl_last_error());
	return id;
}

/* Allow list holds only a third node: node1 is refused. */
static void allow_other(struct ktl_config *cfg)
{
	assert_int_equal(ktl_config_allow_node(cfg, node_id_of("ed25519/agency0/node0")), 0);
}

CASE(not_allowed, "ecdsa/agency0/node1", KTL_E_NODE_NOT_ALLOWED, "is not on the allow list",
     "of 'OU=ktlink,O=agency0,CN=node1'", allow_other)

/* node1 is on both lists: deny wins. */
static void allow_and_deny(struct ktl_config *cfg)
{
	const char *id = node_id_of("ecdsa/agency0/node1");

	assert_int_equal(ktl_config_allow_node(cfg, id), 0);
	assert_int_equal(ktl_config_deny_node(cfg, id), 0);
}

CASE(denied, "ecdsa/agency0/node1", KTL_E_NODE_NOT_ALLOWED, "is on the deny list",
     "of 'OU=ktlink,O=agency0,CN=node1'", allow_and_deny)

/* The message names the node ID's start. */
static void test_denied_names_id(void **state)
{
	(void)state;
	char frag[32];
	struct rcase k = { "ecdsa/agency0/node1", true, KTL_TLS13, KTL_E_NODE_NOT_ALLOWED, frag,
			   "is on the deny list", allow_and_deny };

	snprintf(frag, sizeof(frag), "node ID %.16s...", node_id_of("ecdsa/agency0/node1"));
	run_case(&k);
}

static void allow_node1_upper(struct ktl_config *cfg)
{
	char id[KTL_NODE_ID_MAX + 4];

	snprintf(id, sizeof(id), "0x%s", node_id_of("ecdsa/agency0/node1"));
	for (char *p = id + 2; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(ktl_config_allow_node(cfg, id), 0);
}

/* An allow list naming the node (pasted as 0x + upper case) lets it in. */
static void test_allowed_passes(void **state)
{
	(void)state;
	link_ok(GOOD, "ecdsa/agency0/node1", allow_node1_upper);
}

/* Denying someone else changes nothing for node1. */
static void deny_other(struct ktl_config *cfg)
{
	assert_int_equal(ktl_config_deny_node(cfg, node_id_of("rsa/agency0/node0")), 0);
}

static void test_deny_other_passes(void **state)
{
	(void)state;
	link_ok(GOOD, "ecdsa/agency0/node1", deny_other);
}

/* ---- key usage ---------------------------------------------------------- */

/* Server-only EKU: refused as a client; fine as a server. */
static void test_no_client_usage_tls13(void **state)
{
	(void)state;
	struct rcase k = { "bad/no-client-usage", true, KTL_TLS13, KTL_E_CERT_KEY_USAGE,
			   "node certificate 'OU=ktlink,O=agency0,CN=no-client-usage' lacks TLS client "
			   "extended key usage", NULL, NULL };

	run_case(&k);
}

static void test_no_client_usage_tls12(void **state)
{
	(void)state;
	struct rcase k = { "bad/no-client-usage", true, KTL_TLS12, KTL_E_CERT_KEY_USAGE,
			   "lacks TLS client extended key usage", NULL, NULL };

	run_case(&k);
}

static void test_no_client_usage_as_server_ok(void **state)
{
	(void)state;
	link_ok("bad/no-client-usage", GOOD, NULL);
}

/* ---- leaf only ---------------------------------------------------------- */

static void test_leaf_only_refused_by_config(void **state)
{
	(void)state;
	struct ktl_config *cfg;
	char crt[512], key[512];

	assert_int_equal(ktl_config_new(&cfg), 0);
	snprintf(crt, sizeof(crt), "%s", tu_fixture("bad/leaf-only/node.crt"));
	snprintf(key, sizeof(key), "%s", tu_fixture("bad/leaf-only/node.key"));
	assert_int_equal(ktl_config_set_cert_key(cfg, crt, key), -KTL_E_BAD_FILE);
	assert_msg(ktl_last_error(), crt);
	assert_msg(ktl_last_error(), "holds only the node certificate; append the agency certificate");
	ktl_config_free(cfg);
}

/* A peer built straight on GnuTLS, for what ktlink itself never sends. */
struct raw {
	pthread_t thread;
	int fd;                     /* not owned: the test closes it */
	bool server;
	const char *prio;
	const char *crt, *key;      /* NULL: no certificate */
	int hs;                     /* gnutls_handshake result */
	int after;                  /* result of the record call after the marker */
	gnutls_alert_description_t alert;  /* when hs or after is an alert */
	bool sent_marker;
	gnutls_pcert_st pcert[4];
	unsigned n_pcert;
	gnutls_privkey_t pkey;
};

/* Hands GnuTLS the certificate file as is: left to itself a GnuTLS client
 * sends only a chain whose issuer is in the server's CA list, which a
 * leaf without its agency is not. */
static int raw_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca, int nreq,
			const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **pcert,
			unsigned *n, gnutls_privkey_t *key)
{
	struct raw *r = gnutls_session_get_ptr(s);

	*pcert = r->pcert;
	*n = r->n_pcert;
	*key = r->pkey;
	return 0;
}

static int raw_load(struct raw *r)
{
	gnutls_datum_t pem;
	int ret;

	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;

	/* Certificate by certificate, in file order: the list importers sort
	 * a chain and drop what does not belong to it. */
	if ((ret = gnutls_load_file(r->crt, &pem)) < 0)
		return ret;
	ret = gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(pem.data);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < n; i++) {
		if (i < 4 && gnutls_pcert_import_x509(&r->pcert[i], crts[i], 0) == 0)
			r->n_pcert++;
		gnutls_x509_crt_deinit(crts[i]);
	}
	gnutls_free(crts);
	if (r->n_pcert != n)
		return GNUTLS_E_CERTIFICATE_ERROR;
	if ((ret = gnutls_load_file(r->key, &pem)) < 0)
		return ret;
	gnutls_privkey_init(&r->pkey);
	ret = gnutls_privkey_import_x509_raw(r->pkey, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_free(pem.data);
	return ret;
}

static void raw_unload(struct raw *r)
{
	for (unsigned i = 0; i < r->n_pcert && r->crt; i++)
		gnutls_pcert_deinit(&r->pcert[i]);
	if (r->pkey)
		gnutls_privkey_deinit(r->pkey);
}

static void *raw_main(void *arg)
{
	struct raw *r = arg;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	char buf[128];
	int ret;

	r->hs = r->after = 1;
	gnutls_certificate_allocate_credentials(&cred);
	if (r->crt) {
		if ((ret = raw_load(r)) < 0) {
			r->hs = ret;
			raw_unload(r);
			gnutls_certificate_free_credentials(cred);
			return NULL;
		}
		gnutls_certificate_set_retrieve_function2(cred, raw_retrieve);
	}
	gnutls_init(&s, (r->server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL);
	gnutls_session_set_ptr(s, r);
	ret = gnutls_priority_set_direct(s, r->prio, NULL);
	if (ret < 0) {
		r->hs = ret;
		goto out;
	}
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	if (r->server)
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUEST);
	gnutls_transport_set_int(s, r->fd);
	gnutls_handshake_set_timeout(s, 10000);
	do {
		ret = gnutls_handshake(s);
	} while (ret < 0 && !gnutls_error_is_fatal(ret));
	r->hs = ret;
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
		r->alert = gnutls_alert_get(s);
	if (ret < 0)
		goto out;
	/* Done on our side: send the marker, then wait for the verdict. */
	r->sent_marker = gnutls_record_send(s, marker, sizeof(marker)) == (ssize_t)sizeof(marker);
	do {
		ret = (int)gnutls_record_recv(s, buf, sizeof(buf));
	} while (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED);
	r->after = ret;
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
		r->alert = gnutls_alert_get(s);
out:
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	raw_unload(r);
	return NULL;
}

/* The raw client r talks to a ktlink server with scfg; returns that
 * server's result, its message in err. */
static int raw_vs_server(struct raw *r, struct ktl_config *scfg, char *err, size_t errlen)
{
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER, .fn = leak_fn };
	int sfd, skeep;

	tu_tcp_pair(&r->fd, &sfd);
	srv.fd = sfd;
	skeep = dup(sfd);
	assert_true(skeep >= 0);
	tu_peer_start(&srv);
	assert_int_equal(pthread_create(&r->thread, NULL, raw_main, r), 0);
	tu_peer_join(&srv);
	shutdown(skeep, SHUT_WR);
	assert_int_equal(pthread_join(r->thread, NULL), 0);
	close(skeep);
	close(r->fd);
	if (srv.fn_rc)
		fail_msg("server accepted the link and ran its application");
	snprintf(err, errlen, "%s", srv.err);
	return srv.rc;
}

#define PRIO13 "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define PRIO12 "NORMAL:-VERS-ALL:+VERS-TLS1.2"

/* Checks what the raw client saw: refused by an alert, in the handshake
 * (TLS 1.2, or anything the server refuses before its Finished) or after
 * it (a TLS 1.3 client's own certificate). */
static void assert_raw_refused(const struct raw *r, bool after_handshake)
{
	if (after_handshake) {
		if (r->hs != 0)
			fail_msg("raw client handshake: %s", gnutls_strerror(r->hs));
		assert_true(r->sent_marker);
		if (r->after != GNUTLS_E_FATAL_ALERT_RECEIVED)
			fail_msg("raw client after the handshake: %d %s", r->after, gnutls_strerror(r->after));
	} else {
		if (r->hs != GNUTLS_E_FATAL_ALERT_RECEIVED)
			fail_msg("raw client handshake: %d %s", r->hs, gnutls_strerror(r->hs));
		assert_false(r->sent_marker);
	}
}

static void leaf_only_client(const char *prio, bool tls13)
{
	struct ktl_config *scfg = tu_config(GOOD);
	struct raw r = { .prio = prio, .crt = tu_fixture("bad/leaf-only/node.crt"),
			 .key = tu_fixture("bad/leaf-only/node.key") };
	char err[512];
	int rc = raw_vs_server(&r, scfg, err, sizeof(err));

	if (rc != -KTL_E_CHAIN_INCOMPLETE)
		fail_msg("server rc %d (%s): %s", rc, ktl_strerror(rc), err);
	assert_msg(err, "sent only its node certificate 'OU=ktlink,O=agency0,CN=leaf-only' without the "
			"agency certificate (issuer 'OU=ktlink,O=agency0,CN=agency0')");
	assert_raw_refused(&r, tls13);
	ktl_config_free(scfg);
}

/* A revoked node sends [node, forged agency of the same name, real agency]:
 * whatever path GnuTLS builds, the checks must apply to the agency that
 * really signed the node, so the CRL still bites.  Only node, agency and
 * optionally the trusted root itself are taken. */
static void test_forged_agency_in_front(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD);
	char path[] = "/tmp/ktl-forged-XXXXXX";
	int fd = mkstemp(path);
	char *node = NULL, *forged = NULL, *real = NULL;
	size_t ln, lf, lr;
	char err[512];
	int rc;

	assert_true(fd >= 0);
	{
		/* node1's certificate only: the first PEM block of its node.crt. */
		gnutls_datum_t d, f, a;
		const char *end = "-----END CERTIFICATE-----\n";
		char *cut;

		assert_int_equal(gnutls_load_file(tu_fixture("ecdsa/agency0/node1/node.crt"), &d), 0);
		cut = strstr((char *)d.data, end);
		assert_non_null(cut);
		ln = (size_t)(cut - (char *)d.data) + strlen(end);
		node = strndup((char *)d.data, ln);
		assert_int_equal(gnutls_load_file(tu_fixture("other-root/agency0/agency.crt"), &f), 0);
		forged = strndup((char *)f.data, f.size);
		lf = f.size;
		assert_int_equal(gnutls_load_file(tu_fixture("ecdsa/agency0/agency.crt"), &a), 0);
		real = strndup((char *)a.data, a.size);
		lr = a.size;
		gnutls_free(d.data);
		gnutls_free(f.data);
		gnutls_free(a.data);
	}
	assert_int_equal(write(fd, node, ln), (ssize_t)ln);
	assert_int_equal(write(fd, forged, lf), (ssize_t)lf);
	assert_int_equal(write(fd, real, lr), (ssize_t)lr);
	close(fd);
	assert_int_equal(ktl_config_add_crl(scfg, tu_fixture("ecdsa/agency0/revoked.crl")), 0);

	struct raw r = { .prio = PRIO13, .crt = path, .key = tu_fixture("ecdsa/agency0/node1/node.key") };

	rc = raw_vs_server(&r, scfg, err, sizeof(err));
	unlink(path);
	if (rc != -KTL_E_CERT_REJECTED)
		fail_msg("server rc %d (%s): %s", rc, ktl_strerror(rc), err);
	assert_msg(err, "sent 3 certificates; expected its node and agency certificates (optionally "
			"followed by the trusted root)");
	free(node);
	free(forged);
	free(real);
	ktl_config_free(scfg);
}

/* node, agency and a copy of the trusted root: still a link. */
static void test_root_appended_passes(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD), *ccfg;
	char path[] = "/tmp/ktl-withroot-XXXXXX";
	int fd = mkstemp(path);
	gnutls_datum_t chain, root;

	assert_true(fd >= 0);
	assert_int_equal(gnutls_load_file(tu_fixture("ecdsa/agency0/node1/node.crt"), &chain), 0);
	assert_int_equal(gnutls_load_file(tu_fixture("ecdsa/ca.crt"), &root), 0);
	assert_int_equal(write(fd, chain.data, chain.size), (ssize_t)chain.size);
	assert_int_equal(write(fd, root.data, root.size), (ssize_t)root.size);
	close(fd);
	gnutls_free(chain.data);
	gnutls_free(root.data);
	assert_int_equal(ktl_config_new(&ccfg), 0);
	assert_int_equal(ktl_config_set_ca(ccfg, tu_fixture("ecdsa/ca.crt")), 0);
	assert_int_equal(ktl_config_set_cert_key(ccfg, path, tu_fixture("ecdsa/agency0/node1/node.key")), 0);
	unlink(path);
	link_cfgs_ok(scfg, ccfg);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

/* A chain GnuTLS verified once is remembered, but only its signatures:
 * a CRL or a deny entry added later still refuses the same node. */
static int link_once(struct ktl_config *scfg, struct ktl_config *ccfg, char *err, size_t errlen)
{
	int crc;

	return link_cfgs(scfg, ccfg, &crc, err, errlen);
}

static void test_seen_chain_still_checked(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD), *ccfg = tu_config("ecdsa/agency0/node1");
	char err[512], id[KTL_NODE_ID_MAX + 1];

	assert_int_equal(ktl_config_restrict(ccfg, KTL_TLS12, 0), 0);
	assert_int_equal(link_once(scfg, ccfg, err, sizeof(err)), 0);
	assert_int_equal(link_once(scfg, ccfg, err, sizeof(err)), 0);
	assert_int_equal(ktl_config_add_crl(scfg, tu_fixture("ecdsa/agency0/revoked.crl")), 0);
	assert_int_equal(link_once(scfg, ccfg, err, sizeof(err)), -KTL_E_CERT_REVOKED);
	assert_msg(err, "node certificate 'OU=ktlink,O=agency0,CN=node1' is revoked");
	ktl_config_free(scfg);

	scfg = tu_config(GOOD);
	assert_int_equal(link_once(scfg, ccfg, err, sizeof(err)), 0);
	assert_int_equal(ktl_node_id_from_file(tu_fixture("ecdsa/agency0/node1/node.crt"), id, sizeof(id)), 0);
	assert_int_equal(ktl_config_deny_node(scfg, id), 0);
	assert_int_equal(link_once(scfg, ccfg, err, sizeof(err)), -KTL_E_NODE_NOT_ALLOWED);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

static void test_leaf_only_client_tls13(void **state)
{
	(void)state;
	leaf_only_client(PRIO13, true);
}

static void test_leaf_only_client_tls12(void **state)
{
	(void)state;
	leaf_only_client(PRIO12, false);
}

/* A raw server with the leaf-only file; the ktlink client refuses it. */
static void leaf_only_server(unsigned proto, const char *prio)
{
	struct ktl_config *ccfg = config_for(GOOD, proto);
	struct raw r = { .server = true, .prio = prio, .crt = tu_fixture("bad/leaf-only/node.crt"),
			 .key = tu_fixture("bad/leaf-only/node.key") };
	struct ktl_conn *c = NULL;
	int cfd, ckeep, rc;
	char msg[512];

	tu_tcp_pair(&cfd, &r.fd);
	ckeep = dup(cfd);
	assert_int_equal(pthread_create(&r.thread, NULL, raw_main, &r), 0);
	rc = ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT);
	snprintf(msg, sizeof(msg), "%s", ktl_last_error());
	shutdown(ckeep, SHUT_WR);
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	close(ckeep);
	close(r.fd);
	if (rc != -KTL_E_CHAIN_INCOMPLETE)
		fail_msg("client rc %d (%s): %s", rc, ktl_strerror(rc), msg);
	assert_null(c);
	assert_msg(msg, "sent only its node certificate 'OU=ktlink,O=agency0,CN=leaf-only' without the agency");
	if (r.hs != GNUTLS_E_FATAL_ALERT_RECEIVED)
		fail_msg("raw server handshake: %d %s", r.hs, gnutls_strerror(r.hs));
	assert_false(r.sent_marker);
	ktl_config_free(ccfg);
}

static void test_leaf_only_server_tls13(void **state)
{
	(void)state;
	leaf_only_server(KTL_TLS13, PRIO13);
}

static void test_leaf_only_server_tls12(void **state)
{
	(void)state;
	leaf_only_server(KTL_TLS12, PRIO12);
}

/* Reads the first certificate of a PEM file into a new string. */
static char *first_cert(const char *path)
{
	char *pem = NULL, *end;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_true(getdelim(&pem, &len, '\0', f) > 0);
	fclose(f);
	end = strstr(pem, "-----END CERTIFICATE-----");
	assert_non_null(end);
	strcpy(end + strlen("-----END CERTIFICATE-----"), "\n");
	return pem;
}

static const char *write_tmp(const char *name, const char *a, const char *b)
{
	static char out[2][128];
	static int next;
	char *o = out[next++ % 2];
	FILE *f;

	snprintf(o, sizeof(out[0]), "/tmp/ktl-reject-%d-%s", (int)getpid(), name);
	f = fopen(o, "w");
	assert_non_null(f);
	fputs(a, f);
	if (b)
		fputs(b, f);
	fclose(f);
	return o;
}

/* node1 sent with the other root's agency0: same DN as its real issuer,
 * another key, so it is not node1's issuer. */
static void test_wrong_agency_sent(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD);
	char *leaf = first_cert(tu_fixture("ecdsa/agency0/node1/node.crt"));
	char *agency = first_cert(tu_fixture("other-root/agency0/agency.crt"));
	const char *chain = write_tmp("wrong-agency.crt", leaf, agency);
	struct raw r = { .prio = PRIO13, .crt = chain, .key = tu_fixture("ecdsa/agency0/node1/node.key") };
	char err[512];
	int rc = raw_vs_server(&r, scfg, err, sizeof(err));

	unlink(chain);
	if (rc != -KTL_E_CERT_UNKNOWN_ISSUER)
		fail_msg("server rc %d (%s): %s", rc, ktl_strerror(rc), err);
	assert_msg(err, "node certificate 'OU=ktlink,O=agency0,CN=node1' was not issued by the agency "
			"certificate it sent ('OU=ktlink,O=agency0,CN=agency0')");
	assert_raw_refused(&r, true);
	free(leaf);
	free(agency);
	ktl_config_free(scfg);
}

/* A node signed by the root directly, sent alone: the chain must be node,
 * agency, root. */
static void test_root_issued_node(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD);
	const char *tmpl = write_tmp("node.tmpl", "dn = \"CN=rootnode,O=agency0,OU=ktlink\"\n"
						  "expiration_days = 30\ntls_www_client\ntls_www_server\nsigning_key\n", NULL);
	char crt[128], cmd[2048];
	struct raw r = { .prio = PRIO12, .crt = crt, .key = tu_fixture(GOOD "/node.key") };
	char err[512];
	int rc;

	snprintf(crt, sizeof(crt), "/tmp/ktl-reject-%d-rootnode.crt", (int)getpid());
	snprintf(cmd, sizeof(cmd),
		 "certtool --generate-certificate --load-privkey %s --load-ca-certificate %s "
		 "--load-ca-privkey %s --template %s --no-text --outfile %s >/dev/null 2>&1",
		 tu_fixture(GOOD "/node.key"), tu_fixture("ecdsa/ca.crt"), tu_fixture("ecdsa/ca.key"), tmpl, crt);
	if (system(cmd) != 0)
		fail_msg("certtool failed: %s", cmd);
	unlink(tmpl);
	rc = raw_vs_server(&r, scfg, err, sizeof(err));
	unlink(crt);
	if (rc != -KTL_E_CHAIN_INCOMPLETE)
		fail_msg("server rc %d (%s): %s", rc, ktl_strerror(rc), err);
	assert_msg(err, "node certificate 'OU=ktlink,O=agency0,CN=rootnode' is issued by the root itself; "
			"the chain must be node, agency, root");
	assert_raw_refused(&r, false);
	ktl_config_free(scfg);
}

/* ---- no client certificate ---------------------------------------------- */

static void no_cert_client(const char *prio)
{
	struct ktl_config *scfg = tu_config(GOOD);
	struct raw r = { .prio = prio };
	char err[512];
	int rc = raw_vs_server(&r, scfg, err, sizeof(err));

	if (rc != -KTL_E_NO_PEER_CERT)
		fail_msg("server rc %d (%s): %s", rc, ktl_strerror(rc), err);
	assert_msg(err, "sent no certificate");
	assert_msg(err, "peer 127.0.0.1:");
	/* Without a certificate nothing on the client depends on the server's
	 * verdict, yet the server must still refuse before any data: in TLS
	 * 1.3 the client is done first and learns it after the handshake. */
	assert_raw_refused(&r, strstr(prio, "1.3") != NULL);
	ktl_config_free(scfg);
}

static void test_no_cert_tls13(void **state)
{
	(void)state;
	no_cert_client(PRIO13);
}

static void test_no_cert_tls12(void **state)
{
	(void)state;
	no_cert_client(PRIO12);
}

/* ---- protocol and cipher ------------------------------------------------ */

static void test_tls11_refused(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD);
	struct raw r = { .prio = "NORMAL:-VERS-ALL:+VERS-TLS1.1", .crt = tu_fixture(GOOD "/node.crt"),
			 .key = tu_fixture(GOOD "/node.key") };
	char err[512];
	int rc = raw_vs_server(&r, scfg, err, sizeof(err));

	if (rc != -KTL_E_PROTOCOL_VERSION)
		fail_msg("server rc %d (%s): %s", rc, ktl_strerror(rc), err);
	assert_msg(err, "offered no TLS 1.2 or 1.3 during the handshake");
	assert_raw_refused(&r, false);
	assert_int_equal(r.alert, GNUTLS_A_PROTOCOL_VERSION);
	ktl_config_free(scfg);
}

#define PRIO_CBC "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:-AEAD:+SHA256:+SHA1"

static void test_cbc_refused(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD);
	struct raw r = { .prio = PRIO_CBC, .crt = tu_fixture(GOOD "/node.crt"), .key = tu_fixture(GOOD "/node.key") };
	char err[512];
	int rc = raw_vs_server(&r, scfg, err, sizeof(err));

	if (rc != -KTL_E_NO_SHARED_CIPHER)
		fail_msg("server rc %d (%s): %s", rc, ktl_strerror(rc), err);
	assert_msg(err, "no common cipher suite during the handshake; ktlink allows only ECDHE with "
			"AES-128-GCM, AES-256-GCM or CHACHA20-POLY1305");
	assert_raw_refused(&r, false);
	assert_int_equal(r.alert, GNUTLS_A_HANDSHAKE_FAILURE);
	ktl_config_free(scfg);
}

/* A custom priority that lets CBC through: GnuTLS negotiates it, the check
 * after the handshake refuses the link before any data. */
static void test_custom_priority_cbc_refused(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD);
	struct raw r = { .prio = PRIO_CBC, .crt = tu_fixture("ecdsa/agency0/node1/node.crt"),
			 .key = tu_fixture("ecdsa/agency0/node1/node.key") };
	char err[512];
	int rc;

	assert_int_equal(ktl_config_set_priority(scfg, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+AES-128-CBC:+SHA1:+SHA256"), 0);
	rc = raw_vs_server(&r, scfg, err, sizeof(err));
	if (rc != -KTL_E_NO_SHARED_CIPHER)
		fail_msg("server rc %d (%s): %s", rc, ktl_strerror(rc), err);
	assert_msg(err, "negotiated cipher TLS1.2/AES-128-CBC/");
	assert_msg(err, "is not allowed by ktlink");
	/* The raw client finished first (TLS 1.2: the server sends the last
	 * Finished); its marker was never returned and it got the alert. */
	assert_raw_refused(&r, true);
	assert_int_equal(r.alert, GNUTLS_A_INSUFFICIENT_SECURITY);
	ktl_config_free(scfg);
}

/* Both ends ktlink with CBC-permitting priorities: each refuses. */
static void test_custom_priority_cbc_both_ktlink(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD), *ccfg = tu_config("ecdsa/agency0/node1");
	struct tu_peer srv = { .cfg = scfg, .role = KTL_SERVER, .fn = leak_fn };
	struct ktl_conn *c = NULL;
	int cfd, ckeep, skeep, rc;
	char msg[512];

	assert_int_equal(ktl_config_set_priority(scfg, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+AES-128-CBC:+SHA1:+SHA256"), 0);
	assert_int_equal(ktl_config_set_priority(ccfg, PRIO_CBC), 0);
	tu_tcp_pair(&cfd, &srv.fd);
	ckeep = dup(cfd);
	skeep = dup(srv.fd);
	tu_peer_start(&srv);
	rc = ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT);
	snprintf(msg, sizeof(msg), "%s", ktl_last_error());
	shutdown(ckeep, SHUT_WR);
	tu_peer_join(&srv);
	close(ckeep);
	close(skeep);
	assert_null(c);
	assert_false(srv.fn_rc);
	if (rc != -KTL_E_NO_SHARED_CIPHER)
		fail_msg("client rc %d (%s): %s", rc, ktl_strerror(rc), msg);
	assert_msg(msg, "AES-128-CBC");
	if (srv.rc != -KTL_E_NO_SHARED_CIPHER)
		fail_msg("server rc %d (%s): %s", srv.rc, ktl_strerror(srv.rc), srv.err);
	ktl_config_free(scfg);
	ktl_config_free(ccfg);
}

/* ---- handshake timeout -------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A client that connects and never speaks. */
static void test_timeout_server(void **state)
{
	(void)state;
	struct ktl_config *scfg = tu_config(GOOD);
	struct ktl_conn *c = NULL;
	int cfd, sfd, rc;
	double t0, ms;

	assert_int_equal(ktl_config_set_handshake_timeout(scfg, 300), 0);
	tu_tcp_pair(&cfd, &sfd);
	t0 = now_ms();
	rc = ktl_wrap_fd(&c, scfg, sfd, KTL_SERVER);
	ms = now_ms() - t0;
	if (rc != -KTL_E_HANDSHAKE_TIMEOUT)
		fail_msg("rc %d (%s): %s", rc, ktl_strerror(rc), ktl_last_error());
	assert_msg(ktl_last_error(), "handshake not complete after 300 ms");
	assert_msg(ktl_last_error(), "peer 127.0.0.1:");
	if (ms < 280 || ms > 3000)
		fail_msg("timed out after %.0f ms, want about 300", ms);
	close(cfd);
	ktl_config_free(scfg);
}

/* A server that accepts and never answers the ClientHello. */
static void test_timeout_client(void **state)
{
	(void)state;
	struct ktl_config *ccfg = tu_config(GOOD);
	struct ktl_conn *c = NULL;
	int cfd, sfd, rc;
	double t0, ms;

	assert_int_equal(ktl_config_set_handshake_timeout(ccfg, 300), 0);
	tu_tcp_pair(&cfd, &sfd);
	t0 = now_ms();
	rc = ktl_wrap_fd(&c, ccfg, cfd, KTL_CLIENT);
	ms = now_ms() - t0;
	if (rc != -KTL_E_HANDSHAKE_TIMEOUT)
		fail_msg("rc %d (%s): %s", rc, ktl_strerror(rc), ktl_last_error());
	assert_msg(ktl_last_error(), "handshake not complete after 300 ms");
	if (ms < 280 || ms > 3000)
		fail_msg("timed out after %.0f ms, want about 300", ms);
	close(sfd);
	ktl_config_free(ccfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ENTRIES(wrong_root),
		ENTRIES(expired_node),
		ENTRIES(expired_agency),
		ENTRIES(future_node),
		ENTRIES(agency_not_ca),
		ENTRIES(unknown_agency),
		ENTRIES(revoked),
		cmocka_unit_test(test_crl_empty_passes),
		cmocka_unit_test(test_crl_other_node_passes),
		cmocka_unit_test(test_crl_made_by_agency_revokes),
		cmocka_unit_test(test_crl_forged_ignored),
		ENTRIES(not_allowed),
		ENTRIES(denied),
		cmocka_unit_test(test_denied_names_id),
		cmocka_unit_test(test_allowed_passes),
		cmocka_unit_test(test_deny_other_passes),
		cmocka_unit_test(test_no_client_usage_tls13),
		cmocka_unit_test(test_no_client_usage_tls12),
		cmocka_unit_test(test_no_client_usage_as_server_ok),
		cmocka_unit_test(test_leaf_only_refused_by_config),
		cmocka_unit_test(test_forged_agency_in_front),
		cmocka_unit_test(test_root_appended_passes),
		cmocka_unit_test(test_seen_chain_still_checked),
		cmocka_unit_test(test_leaf_only_client_tls13),
		cmocka_unit_test(test_leaf_only_client_tls12),
		cmocka_unit_test(test_leaf_only_server_tls13),
		cmocka_unit_test(test_leaf_only_server_tls12),
		cmocka_unit_test(test_wrong_agency_sent),
		cmocka_unit_test(test_root_issued_node),
		cmocka_unit_test(test_no_cert_tls13),
		cmocka_unit_test(test_no_cert_tls12),
		cmocka_unit_test(test_tls11_refused),
		cmocka_unit_test(test_cbc_refused),
		cmocka_unit_test(test_custom_priority_cbc_refused),
		cmocka_unit_test(test_custom_priority_cbc_both_ktlink),
		cmocka_unit_test(test_timeout_server),
		cmocka_unit_test(test_timeout_client),
	};

	/* KTL_TEST_FILTER=glob runs a subset, e.g. '*_server_tls12'. */
	if (getenv("KTL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("KTL_TEST_FILTER"));
	return cmocka_run_group_tests_name("reject", tests, NULL, NULL);
}
