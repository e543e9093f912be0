/* SPDX-License-Identifier: MIT */
/* lib/fisco.c: FISCO BCOS certificate directories and config.ini files. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

/* A throwaway tree: TMP/chain is a chain made by certs/ktlink-certs.sh, so
 * these tests depend on no other test's fixtures. */
static char tmp[64];
static char node[PATH_MAX];        /* TMP/chain/agency0/node0 */
static char node_id[KTL_NODE_ID_MAX + 1];
static char node_id2[KTL_NODE_ID_MAX + 1];

static const char *at(const char *rel)
{
	static char ring[8][PATH_MAX];
	static unsigned i;
	char *p = ring[i++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", tmp, rel);
	return p;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	if (r != 0)
		fail_msg("command failed (%d): %s", r, cmd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void read_id(const char *path, char *out)
{
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_non_null(fgets(out, KTL_NODE_ID_MAX + 1, f));
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
}

static int group_setup(void **state)
{
	char repo[PATH_MAX];

	if (!getcwd(repo, sizeof(repo)))
		return -1;
	snprintf(tmp, sizeof(tmp), "/tmp/ktl-fisco-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(node, sizeof(node), "%s/chain/agency0/node0", tmp);
	sh("'%s/certs/ktlink-certs.sh' --out '%s/chain' --agencies 1 --nodes 2 --crl --quiet"
	   " >/dev/null", repo, tmp);
	read_id(at("chain/agency0/node0/node.nodeid"), node_id);
	read_id(at("chain/agency0/node1/node.nodeid"), node_id2);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static struct ktl_config *new_cfg(void)
{
	struct ktl_config *cfg = NULL;

	assert_int_equal(ktl_config_new(&cfg), 0);
	return cfg;
}

/* dir/{ca.crt,<cert>,<key>} from node0. */
static void make_dir(const char *dir, const char *cert, const char *key)
{
	sh("mkdir -p '%s' && cp '%s/ca.crt' '%s/'", dir, node, dir);
	if (cert)
		sh("cp '%s/node.crt' '%s/%s'", node, dir, cert);
	if (key)
		sh("cp '%s/node.key' '%s/%s'", node, dir, key);
}

/* ---- directories ----------------------------------------------------------- */

static void dir_fisco2(void **state)
{
	struct ktl_config *cfg = new_cfg();

	make_dir(at("d2"), "node.crt", "node.key");
	assert_int_equal(ktl_config_load_dir(cfg, at("d2")), 0);
	assert_true(cfg->have_cert);
	assert_int_equal(cfg->n_ca, 1);
	assert_int_equal(cfg->n_crls, 0);
	ktl_config_free(cfg);
}

static void dir_fisco3(void **state)
{
	struct ktl_config *cfg = new_cfg();

	make_dir(at("d3"), "ssl.crt", "ssl.key");
	assert_int_equal(ktl_config_load_dir(cfg, at("d3")), 0);
	assert_true(cfg->have_cert);
	assert_int_equal(cfg->n_ca, 1);
	ktl_config_free(cfg);
}

static void dir_node_with_conf(void **state)
{
	struct ktl_config *cfg = new_cfg();

	make_dir(at("nodedir/conf"), "ssl.crt", "ssl.key");
	assert_int_equal(ktl_config_load_dir(cfg, at("nodedir")), 0);
	assert_true(cfg->have_cert);
	ktl_config_free(cfg);
}

static void dir_incomplete(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	make_dir(at("dx"), NULL, NULL);
	assert_int_equal(ktl_config_load_dir(cfg, at("dx")), -ENOENT);
	snprintf(want, sizeof(want),
		 "%s: no node.crt+node.key (FISCO 2.x) or ssl.crt+ssl.key (FISCO 3.x)", at("dx"));
	assert_string_equal(ktl_last_error(), want);
	assert_false(cfg->have_cert);
	ktl_config_free(cfg);
}

static void dir_half_pair(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	make_dir(at("dh"), "node.crt", NULL);
	assert_int_equal(ktl_config_load_dir(cfg, at("dh")), -ENOENT);
	snprintf(want, sizeof(want), "%s: has node.crt but no node.key (FISCO 2.x)", at("dh"));
	assert_string_equal(ktl_last_error(), want);
	ktl_config_free(cfg);
}

static void dir_no_ca(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	make_dir(at("dnoca"), "ssl.crt", "ssl.key");
	sh("rm '%s/ca.crt'", at("dnoca"));
	assert_int_equal(ktl_config_load_dir(cfg, at("dnoca")), -ENOENT);
	snprintf(want, sizeof(want), "%s: no ca.crt next to ssl.crt (FISCO 3.x)", at("dnoca"));
	assert_string_equal(ktl_last_error(), want);
	ktl_config_free(cfg);
}

static void dir_both_layouts(void **state)
{
	struct ktl_config *cfg = new_cfg();

	make_dir(at("dboth"), "node.crt", "node.key");
	sh("cp '%s/node.crt' '%s/ssl.crt' && cp '%s/node.key' '%s/ssl.key'", node, at("dboth"),
	   node, at("dboth"));
	assert_int_equal(ktl_config_load_dir(cfg, at("dboth")), -KTL_E_BAD_FILE);
	assert_non_null(strstr(ktl_last_error(), ": both node.crt+node.key (FISCO 2.x) and "
						 "ssl.crt+ssl.key (FISCO 3.x)"));
	ktl_config_free(cfg);
}

static void dir_missing(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	assert_int_equal(ktl_config_load_dir(cfg, at("nope")), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", at("nope"));
	assert_string_equal(ktl_last_error(), want);
	ktl_config_free(cfg);
}

static void dir_crl_folder(void **state)
{
	struct ktl_config *cfg = new_cfg();

	make_dir(at("dcrl"), "node.crt", "node.key");
	sh("mkdir -p '%s/crl' && cp '%s/chain/agency0/agency.crl' '%s/crl/agency0.crl' && "
	   "echo notes > '%s/crl/README.txt'", at("dcrl"), tmp, at("dcrl"), at("dcrl"));
	assert_int_equal(ktl_config_load_dir(cfg, at("dcrl")), 0);
	assert_int_equal(cfg->n_crls, 1);
	ktl_config_free(cfg);
}

static void dir_bad_crl(void **state)
{
	struct ktl_config *cfg = new_cfg();

	make_dir(at("dbadcrl"), "node.crt", "node.key");
	sh("mkdir -p '%s/crl' && echo garbage > '%s/crl/x.crl'", at("dbadcrl"), at("dbadcrl"));
	assert_int_equal(ktl_config_load_dir(cfg, at("dbadcrl")), -KTL_E_BAD_FILE);
	assert_non_null(strstr(ktl_last_error(), "crl/x.crl"));
	ktl_config_free(cfg);
}

/* ---- config.ini ------------------------------------------------------------- */

/* FISCO 2.x as build_chain.sh writes it: every key indented. */
static void ini_fisco2(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char ini[4096], upper[KTL_NODE_ID_MAX + 1];
	size_t i;

	for (i = 0; node_id[i]; i++)
		upper[i] = (char)((node_id[i] >= 'a' && node_id[i] <= 'f') ? node_id[i] - 32 : node_id[i]);
	upper[i] = '\0';
	make_dir(at("n2/conf"), "node.crt", "node.key");
	snprintf(ini, sizeof(ini),
		 "[rpc]\n    channel_listen_ip=0.0.0.0\n    jsonrpc_listen_port=8545\n"
		 "[p2p]\n    listen_ip=0.0.0.0\n    listen_port=30300\n    ; nodes to connect\n"
		 "    node.0=127.0.0.1:30300\n    node.1=127.0.0.1:30301\n\n"
		 "[certificate_blacklist]\n    ; crl.0 should be nodeid, nodeid's length is 128\n"
		 "    crl.0=%s\n    ;crl.1=\n\n"
		 "[group]\n    group_data_path=data/\n    group_config_path=conf/\n\n"
		 "[network_security]\n    ; directory the certificates located in\n"
		 "    data_path=conf/\n    ; the node private key file\n    key=node.key\n"
		 "    ; the node certificate file\n    cert=node.crt\n"
		 "    ; the ca certificate file\n    ca_cert=ca.crt\n\n"
		 "[chain]\n    id=1\n    sm_crypto=false\n    sm_crypto_channel=false\n",
		 upper);
	write_file(at("n2/config.ini"), ini);
	assert_int_equal(ktl_config_load_ini(cfg, at("n2/config.ini")), 0);
	assert_true(cfg->have_cert);
	assert_int_equal(cfg->n_ca, 1);
	assert_int_equal(cfg->n_deny, 1);
	assert_string_equal(cfg->deny[0], node_id);
	assert_int_equal(cfg->n_allow, 0);
	ktl_config_free(cfg);
}

static void ini_fisco3(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char ini[4096];

	make_dir(at("n3/conf"), "ssl.crt", "ssl.key");
	snprintf(ini, sizeof(ini),
		 "[p2p]\n    listen_ip=0.0.0.0\n    listen_port=30300\n    sm_ssl=false\n"
		 "    nodes_path=./\n    nodes_file=nodes.json\n\n"
		 "[certificate_blacklist]\n    ; crl.0 should be nodeid\n    ;crl.0=\n\n"
		 "[certificate_whitelist]\n    cal.0=%s\n    cal.1=0x%s\n\n"
		 "[cert]\n    ; directory the certificates located in\n    ca_path=./conf\n"
		 "    ca_cert=ca.crt\n    node_key=ssl.key\n    node_cert=ssl.crt\n\n"
		 "[chain]\n    sm_crypto=true\n    chain_id=chain0\n",
		 node_id, node_id2);
	write_file(at("n3/config.ini"), ini);
	/* sm_crypto (signatures) is not sm_ssl in 3.x: the links stay RFC TLS. */
	assert_int_equal(ktl_config_load_ini(cfg, at("n3/config.ini")), 0);
	assert_true(cfg->have_cert);
	assert_int_equal(cfg->n_allow, 2);
	assert_string_equal(cfg->allow[0], node_id);
	assert_string_equal(cfg->allow[1], node_id2);
	assert_int_equal(cfg->n_deny, 0);
	ktl_config_free(cfg);
}

/* Relative paths follow config.ini, not the caller's working directory. */
static void ini_relative_paths(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char cwd[PATH_MAX];

	make_dir(at("rel/node/certs"), "ssl.crt", "ssl.key");
	write_file(at("rel/node/config.ini"), "[cert]\nca_path=certs\n");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	assert_int_equal(ktl_config_load_ini(cfg, at("rel/node/config.ini")), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_true(cfg->have_cert);
	ktl_config_free(cfg);

	/* And a bare "config.ini" is relative to the working directory. */
	cfg = new_cfg();
	make_dir(at("rel/n2/conf"), "node.crt", "node.key");
	write_file(at("rel/n2/config.ini"), "[network_security]\n");
	assert_int_equal(chdir(at("rel/n2")), 0);
	assert_int_equal(ktl_config_load_ini(cfg, "config.ini"), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_true(cfg->have_cert);
	ktl_config_free(cfg);
}

static void ini_absolute_data_path(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char ini[2 * PATH_MAX];

	make_dir(at("abs/keys"), "mynode.crt", "mynode.key");
	snprintf(ini, sizeof(ini),
		 "[network_security]\ndata_path=%s/\nkey=mynode.key\ncert=mynode.crt\n",
		 at("abs/keys"));
	sh("mkdir -p '%s'", at("abs/elsewhere"));
	write_file(at("abs/elsewhere/config.ini"), ini);
	assert_int_equal(ktl_config_load_ini(cfg, at("abs/elsewhere/config.ini")), 0);
	assert_true(cfg->have_cert);
	ktl_config_free(cfg);
}

static void ini_missing_cert_file(void **state)
{
	struct ktl_config *cfg = new_cfg();
	int r;

	make_dir(at("mc/conf"), NULL, NULL);
	write_file(at("mc/config.ini"), "[network_security]\ndata_path=conf/\n");
	r = ktl_config_load_ini(cfg, at("mc/config.ini"));
	/* The CA loads; the error is the certificate's, naming its path. */
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(ktl_last_error(), "mc/conf/node.crt"));
	ktl_config_free(cfg);
}

static void ini_syntax_error(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	write_file(at("bad.ini"), "[cert]\n    ca_path=./conf\nthis line has no equals sign\n"
				  "[cert\n");
	assert_int_equal(ktl_config_load_ini(cfg, at("bad.ini")), -KTL_E_BAD_FILE);
	snprintf(want, sizeof(want), "%s:3: not a [section] or name=value line", at("bad.ini"));
	assert_string_equal(ktl_last_error(), want);
	assert_false(cfg->have_cert);
	ktl_config_free(cfg);
}

static void ini_bad_node_id(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	write_file(at("badid.ini"), "[certificate_blacklist]\n; comment\n    crl.0=abc\n"
				    "[network_security]\n");
	assert_int_equal(ktl_config_load_ini(cfg, at("badid.ini")), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: crl.0: deny node ID 'abc': 3 hex characters; a node ID has 128 (ECDSA P-256) or 64 (Ed25519, RSA)",
		 at("badid.ini"));
	assert_string_equal(ktl_last_error(), want);
	ktl_config_free(cfg);
}

static void ini_long_line(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char ini[1024];
	char want[2 * PATH_MAX];

	snprintf(ini, sizeof(ini), "[cert]\n\n ca_path=%0300d\n", 0);
	write_file(at("long.ini"), ini);
	assert_int_equal(ktl_config_load_ini(cfg, at("long.ini")), -KTL_E_BAD_FILE);
	snprintf(want, sizeof(want), "%s:3: line longer than", at("long.ini"));
	assert_memory_equal(ktl_last_error(), want, strlen(want));
	ktl_config_free(cfg);
}

static void ini_no_section(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	write_file(at("nosec.ini"), "[p2p]\nlisten_port=30300\n[certificate_whitelist]\n");
	assert_int_equal(ktl_config_load_ini(cfg, at("nosec.ini")), -KTL_E_BAD_FILE);
	snprintf(want, sizeof(want), "%s: no [network_security] or [cert] section", at("nosec.ini"));
	assert_string_equal(ktl_last_error(), want);
	ktl_config_free(cfg);
}

static void ini_both_sections(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	write_file(at("both.ini"), "[network_security]\n[cert]\nca_path=.\n");
	assert_int_equal(ktl_config_load_ini(cfg, at("both.ini")), -KTL_E_BAD_FILE);
	snprintf(want, sizeof(want),
		 "%s: both [network_security] (FISCO 2.x) and [cert] (FISCO 3.x) sections",
		 at("both.ini"));
	assert_string_equal(ktl_last_error(), want);
	ktl_config_free(cfg);
}

static void ini_sm_ssl(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	write_file(at("sm2.ini"), "[chain]\nsm_crypto=true\n[network_security]\n");
	assert_int_equal(ktl_config_load_ini(cfg, at("sm2.ini")), -KTL_E_UNSUPPORTED_KEY);
	snprintf(want, sizeof(want),
		 "%s: [chain] sm_crypto=true: SM2 (national cryptography) TLS is not supported",
		 at("sm2.ini"));
	assert_string_equal(ktl_last_error(), want);
	ktl_config_free(cfg);

	cfg = new_cfg();
	write_file(at("sm3.ini"), "[p2p]\nsm_ssl=true\n[cert]\n");
	assert_int_equal(ktl_config_load_ini(cfg, at("sm3.ini")), -KTL_E_UNSUPPORTED_KEY);
	ktl_config_free(cfg);
}

static void ini_missing_file(void **state)
{
	struct ktl_config *cfg = new_cfg();
	char want[2 * PATH_MAX];

	assert_int_equal(ktl_config_load_ini(cfg, at("absent.ini")), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", at("absent.ini"));
	assert_string_equal(ktl_last_error(), want);
	assert_int_equal(ktl_config_load_ini(cfg, tmp), -KTL_E_BAD_FILE);
	ktl_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dir_fisco2),
		cmocka_unit_test(dir_fisco3),
		cmocka_unit_test(dir_node_with_conf),
		cmocka_unit_test(dir_incomplete),
		cmocka_unit_test(dir_half_pair),
		cmocka_unit_test(dir_no_ca),
		cmocka_unit_test(dir_both_layouts),
		cmocka_unit_test(dir_missing),
		cmocka_unit_test(dir_crl_folder),
		cmocka_unit_test(dir_bad_crl),
		cmocka_unit_test(ini_fisco2),
		cmocka_unit_test(ini_fisco3),
		cmocka_unit_test(ini_relative_paths),
		cmocka_unit_test(ini_absolute_data_path),
		cmocka_unit_test(ini_missing_cert_file),
		cmocka_unit_test(ini_syntax_error),
		cmocka_unit_test(ini_bad_node_id),
		cmocka_unit_test(ini_long_line),
		cmocka_unit_test(ini_no_section),
		cmocka_unit_test(ini_both_sections),
		cmocka_unit_test(ini_sm_ssl),
		cmocka_unit_test(ini_missing_file),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
