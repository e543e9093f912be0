/* SPDX-License-Identifier: MIT */
/*
 * FISCO BCOS node layouts: a certificate directory, or a node's config.ini.
 *
 * Where FISCO looks (from its sources, so a node's own files load as is):
 *  2.x  [network_security] data_path (default ./conf/), key (node.key),
 *       cert (node.crt), ca_cert (ca.crt); each file is data_path + "/" +
 *       name.  Older 2.x files call the section [secure].
 *  3.x  [cert] ca_path (default ./), ca_cert (ca.crt), node_key (ssl.key),
 *       node_cert (ssl.crt); each file is ca_path + "/" + name.
 *  both [certificate_blacklist] crl.N=<node ID>, [certificate_whitelist]
 *       cal.N=<node ID>; 3.x also reads the older section names [crl], [cal].
 * FISCO resolves relative paths against its working directory, which its
 * start.sh sets to the node directory holding config.ini; so do we.
 */
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "internal.h"

#define NAME_MAX_LEN 256

/* ---- helpers ----------------------------------------------------------- */

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int path_join(char *out, size_t len, const char *a, const char *b)
{
	int n;

	if (b[0] == '/' || a[0] == '\0')
		n = snprintf(out, len, "%s", b);
	else
		n = snprintf(out, len, "%s%s%s", a, a[strlen(a) - 1] == '/' ? "" : "/", b);
	if (n < 0 || (size_t)n >= len)
		return ktl_err(ENAMETOOLONG, "%s/%s: path too long", a, b);
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls > lx && strcmp(s + ls - lx, suffix) == 0;
}

static int crl_filter(const struct dirent *d)
{
	return has_suffix(d->d_name, ".crl");
}

/* Every *.crl in dir/crl, in name order so failures are reproducible. */
static int load_crl_dir(struct ktl_config *cfg, const char *dir)
{
	char crl_dir[PATH_MAX], path[PATH_MAX];
	struct dirent **names;
	int n, i, r = 0;

	r = path_join(crl_dir, sizeof(crl_dir), dir, "crl");
	if (r < 0)
		return r;
	n = scandir(crl_dir, &names, crl_filter, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		return ktl_err(errno, "%s: %s", crl_dir, strerror(errno));
	}
	for (i = 0; i < n; i++) {
		if (r == 0) {
			r = path_join(path, sizeof(path), crl_dir, names[i]->d_name);
			if (r == 0 && is_file(path))
				r = ktl_config_add_crl(cfg, path);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* ---- certificate directory ---------------------------------------------- */

struct dir_layout {
	const char *cert, *key, *version;
};

static const struct dir_layout layouts[] = {
	{ "node.crt", "node.key", "FISCO 2.x" },
	{ "ssl.crt", "ssl.key", "FISCO 3.x" },
};

/* 0 none, 1 complete; a half-present pair is reported as an error. */
static int layout_present(const char *dir, const struct dir_layout *l)
{
	char c[PATH_MAX], k[PATH_MAX];
	bool hc, hk;
	int r;

	r = path_join(c, sizeof(c), dir, l->cert);
	if (r == 0)
		r = path_join(k, sizeof(k), dir, l->key);
	if (r < 0)
		return r;
	hc = is_file(c);
	hk = is_file(k);
	if (hc && hk)
		return 1;
	if (hc || hk)
		return ktl_err(ENOENT, "%s: has %s but no %s (%s)", dir,
			       hc ? l->cert : l->key, hc ? l->key : l->cert, l->version);
	return 0;
}

/* Picks the layout in dir: index into layouts[], -1 when neither. */
static int find_layout(const char *dir, int *which)
{
	int r2, r3;

	*which = -1;
	r2 = layout_present(dir, &layouts[0]);
	if (r2 < 0)
		return r2;
	r3 = layout_present(dir, &layouts[1]);
	if (r3 < 0)
		return r3;
	if (r2 && r3)
		return ktl_err(KTL_E_BAD_FILE,
			       "%s: both node.crt+node.key (FISCO 2.x) and ssl.crt+ssl.key (FISCO 3.x); name the files explicitly",
			       dir);
	if (r2)
		*which = 0;
	else if (r3)
		*which = 1;
	return 0;
}

KTL_API int ktl_config_load_dir(struct ktl_config *cfg, const char *dir)
{
	char conf[PATH_MAX], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	const char *use = dir;
	struct stat st;
	int which, r;

	if (!cfg || !dir || !*dir)
		return ktl_err(EINVAL, "ktl_config_load_dir: no directory given");
	if (stat(dir, &st) < 0)
		return ktl_err(errno, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ktl_err(ENOTDIR, "%s: not a directory", dir);

	r = find_layout(dir, &which);
	if (r < 0)
		return r;
	if (which < 0) {
		/* A FISCO node directory keeps its certificates in conf/. */
		r = path_join(conf, sizeof(conf), dir, "conf");
		if (r < 0)
			return r;
		if (stat(conf, &st) == 0 && S_ISDIR(st.st_mode)) {
			r = find_layout(conf, &which);
			if (r < 0)
				return r;
			if (which >= 0)
				use = conf;
		}
	}
	if (which < 0)
		return ktl_err(ENOENT,
			       "%s: no node.crt+node.key (FISCO 2.x) or ssl.crt+ssl.key (FISCO 3.x)",
			       dir);

	r = path_join(ca, sizeof(ca), use, "ca.crt");
	if (r == 0)
		r = path_join(cert, sizeof(cert), use, layouts[which].cert);
	if (r == 0)
		r = path_join(key, sizeof(key), use, layouts[which].key);
	if (r < 0)
		return r;
	if (!is_file(ca))
		return ktl_err(ENOENT, "%s: no ca.crt next to %s (%s)", use,
			       layouts[which].cert, layouts[which].version);

	r = ktl_config_set_ca(cfg, ca);
	if (r == 0)
		r = ktl_config_set_cert_key(cfg, cert, key);
	if (r == 0)
		r = load_crl_dir(cfg, use);
	return r;
}

/* ---- config.ini ------------------------------------------------------------ */

struct ini_state {
	struct ktl_config *cfg;
	const char *path;
	FILE *f;
	int line;                  /* line the parser is on */
	int completed;             /* lines read to their newline */
	int code;                  /* first failure (positive), 0 if none */
	int code_line;
	char msg[KTL_MSG_MAX];

	bool v2, v3;               /* which sections were seen */
	bool sm_chain, sm_ssl;     /* SM2 (national crypto) asked for */
	char data_path[PATH_MAX];  /* 2.x */
	char key[NAME_MAX_LEN], cert[NAME_MAX_LEN], ca_cert[NAME_MAX_LEN];
	char ca_path[PATH_MAX];    /* 3.x */
	char node_key[NAME_MAX_LEN], node_cert[NAME_MAX_LEN], ca_cert3[NAME_MAX_LEN];
};

static void ini_fail(struct ini_state *st, int code, const char *msg)
{
	if (st->code)
		return;
	st->code = code;
	st->code_line = st->line;
	snprintf(st->msg, sizeof(st->msg), "%s", msg);
}

/*
 * FISCO's files indent every key under its section.  inih would take an
 * indented line as the continuation of the previous value (Python style);
 * FISCO reads them with boost's ini parser, which trims each line, so we
 * strip the indent before inih sees it.  Also counts lines, since the
 * installed inih does not pass line numbers to the handler.
 */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct ini_state *st = stream;
	size_t skip, len;

	if (st->code)
		return NULL;
	if (!fgets(str, num, st->f))
		return NULL;
	st->line = st->completed + 1;
	len = strlen(str);
	if (len && str[len - 1] == '\n') {
		st->completed++;
	} else if (!feof(st->f)) {
		char m[64];

		snprintf(m, sizeof(m), "line longer than %d characters", num - 2);
		ini_fail(st, KTL_E_BAD_FILE, m);
		return NULL;
	}
	skip = strspn(str, " \t");
	memmove(str, str + skip, len - skip + 1);
	/* inih reports keys, not headers; a section may hold none and still
	 * select the layout, with FISCO's defaults. */
	if (str[0] == '[') {
		size_t n = strcspn(str + 1, "]");

		if (str[1 + n] == ']') {
			if ((n == 16 && !strncmp(str + 1, "network_security", n)) ||
			    (n == 6 && !strncmp(str + 1, "secure", n)))
				st->v2 = true;
			else if (n == 4 && !strncmp(str + 1, "cert", n))
				st->v3 = true;
		}
	}
	return str;
}

static int set_name(struct ini_state *st, char *dst, size_t len, const char *name,
		    const char *value)
{
	char m[KTL_MSG_MAX];

	if (strlen(value) >= len) {
		snprintf(m, sizeof(m), "%s: value too long", name);
		ini_fail(st, ENAMETOOLONG, m);
		return 0;
	}
	memcpy(dst, value, strlen(value) + 1);
	return 1;
}

static bool is_true(const char *v)
{
	return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

static int node_list(struct ini_state *st, const char *name, const char *value,
		     const char *prefix, int (*add)(struct ktl_config *, const char *))
{
	int r;

	if (strncmp(name, prefix, strlen(prefix)) != 0)
		return 1;
	/* FISCO's templates ship "crl.0=" placeholders: nothing to add. */
	if (!*value)
		return 1;
	r = add(st->cfg, value);
	if (r < 0) {
		char m[KTL_MSG_MAX];

		snprintf(m, sizeof(m), "%s: %s", name, ktl_last_error());
		ini_fail(st, -r, m);
		return 0;
	}
	return 1;
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;

	if (st->code)
		return 0;
	if (!strcmp(section, "network_security") || !strcmp(section, "secure")) {
		st->v2 = true;
		if (!strcmp(name, "data_path"))
			return set_name(st, st->data_path, sizeof(st->data_path), name, value);
		if (!strcmp(name, "key"))
			return set_name(st, st->key, sizeof(st->key), name, value);
		if (!strcmp(name, "cert"))
			return set_name(st, st->cert, sizeof(st->cert), name, value);
		if (!strcmp(name, "ca_cert"))
			return set_name(st, st->ca_cert, sizeof(st->ca_cert), name, value);
		return 1;
	}
	if (!strcmp(section, "cert")) {
		st->v3 = true;
		if (!strcmp(name, "ca_path"))
			return set_name(st, st->ca_path, sizeof(st->ca_path), name, value);
		if (!strcmp(name, "node_key"))
			return set_name(st, st->node_key, sizeof(st->node_key), name, value);
		if (!strcmp(name, "node_cert"))
			return set_name(st, st->node_cert, sizeof(st->node_cert), name, value);
		if (!strcmp(name, "ca_cert"))
			return set_name(st, st->ca_cert3, sizeof(st->ca_cert3), name, value);
		return 1;
	}
	if (!strcmp(section, "certificate_blacklist") || !strcmp(section, "crl"))
		return node_list(st, name, value, "crl.", ktl_config_deny_node);
	if (!strcmp(section, "certificate_whitelist") || !strcmp(section, "cal"))
		return node_list(st, name, value, "cal.", ktl_config_allow_node);
	/* 2.x: [chain] sm_crypto also switches the node links to SM2 TLS;
	 * 3.x keeps that apart in [p2p] sm_ssl.  Judged once the version is
	 * known, at the end. */
	if (!strcmp(section, "chain") && !strcmp(name, "sm_crypto"))
		st->sm_chain = is_true(value);
	if (!strcmp(section, "p2p") && !strcmp(name, "sm_ssl"))
		st->sm_ssl = is_true(value);
	return 1;
}

/* The directory part of path, "." when it has none. */
static void dir_of(char *out, size_t len, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, len, ".");
	else if (slash == path)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(slash - path), path);
}

static int ini_files(struct ini_state *st, char *ca, char *cert, char *key)
{
	char base[PATH_MAX], dir[PATH_MAX];
	const char *sub, *n_ca, *n_cert, *n_key;
	int r;

	dir_of(base, sizeof(base), st->path);
	if (st->v2) {
		sub = *st->data_path ? st->data_path : "./conf/";
		n_ca = *st->ca_cert ? st->ca_cert : "ca.crt";
		n_cert = *st->cert ? st->cert : "node.crt";
		n_key = *st->key ? st->key : "node.key";
	} else {
		sub = *st->ca_path ? st->ca_path : "./";
		n_ca = *st->ca_cert3 ? st->ca_cert3 : "ca.crt";
		n_cert = *st->node_cert ? st->node_cert : "ssl.crt";
		n_key = *st->node_key ? st->node_key : "ssl.key";
	}
	r = path_join(dir, sizeof(dir), base, sub);
	if (r == 0)
		r = path_join(ca, PATH_MAX, dir, n_ca);
	if (r == 0)
		r = path_join(cert, PATH_MAX, dir, n_cert);
	if (r == 0)
		r = path_join(key, PATH_MAX, dir, n_key);
	return r;
}

KTL_API int ktl_config_load_ini(struct ktl_config *cfg, const char *ini_path)
{
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	struct ini_state *st;
	int r, line;

	if (!cfg || !ini_path || !*ini_path)
		return ktl_err(EINVAL, "ktl_config_load_ini: no file given");
	if (!is_file(ini_path)) {
		struct stat sb;

		if (stat(ini_path, &sb) < 0)
			return ktl_err(errno, "%s: %s", ini_path, strerror(errno));
		return ktl_err(KTL_E_BAD_FILE, "%s: not a regular file", ini_path);
	}
	/* Several PATH_MAX buffers: too much for a caller's small stack. */
	st = calloc(1, sizeof(*st));
	if (!st)
		return ktl_err(ENOMEM, "%s: out of memory", ini_path);
	st->cfg = cfg;
	st->path = ini_path;
	st->f = fopen(ini_path, "r");
	if (!st->f) {
		r = ktl_err(errno, "%s: %s", ini_path, strerror(errno));
		goto out;
	}
	line = ini_parse_stream(ini_read_line, st, on_ini_entry, st);
	if (!st->code && ferror(st->f)) {
		r = ktl_err(EIO, "%s: read error", ini_path);
		goto out;
	}
	/* A syntax error before the handler's failure is the first problem. */
	if (line > 0 && (!st->code || line < st->code_line)) {
		r = ktl_err(KTL_E_BAD_FILE, "%s:%d: not a [section] or name=value line",
			    ini_path, line);
		goto out;
	}
	if (line < 0) {
		r = ktl_err(ENOMEM, "%s: out of memory", ini_path);
		goto out;
	}
	if (st->code) {
		r = ktl_err(st->code, "%s:%d: %s", ini_path, st->code_line, st->msg);
		goto out;
	}
	if (!st->v2 && !st->v3) {
		r = ktl_err(KTL_E_BAD_FILE, "%s: no [network_security] or [cert] section", ini_path);
		goto out;
	}
	if (st->v2 && st->v3) {
		r = ktl_err(KTL_E_BAD_FILE,
			    "%s: both [network_security] (FISCO 2.x) and [cert] (FISCO 3.x) sections",
			    ini_path);
		goto out;
	}
	if ((st->v2 && st->sm_chain) || (st->v3 && st->sm_ssl)) {
		r = ktl_err(KTL_E_UNSUPPORTED_KEY,
			    "%s: %s=true: SM2 (national cryptography) TLS is not supported",
			    ini_path, st->v2 ? "[chain] sm_crypto" : "[p2p] sm_ssl");
		goto out;
	}
	r = ini_files(st, ca, cert, key);
	if (r == 0)
		r = ktl_config_set_ca(cfg, ca);
	if (r == 0)
		r = ktl_config_set_cert_key(cfg, cert, key);
out:
	if (st->f)
		fclose(st->f);
	free(st);
	return r;
}
