/* SPDX-License-Identifier: MIT */
/* Credential and TLS options shared by `ktlink serve` and `ktlink connect`. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

const struct option link_long_opts[] = {
	{ "ca", required_argument, NULL, OPT_CA },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "crl", required_argument, NULL, OPT_CRL },
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "deny", required_argument, NULL, OPT_DENY },
	{ "allow-file", required_argument, NULL, OPT_ALLOW_FILE },
	{ "deny-file", required_argument, NULL, OPT_DENY_FILE },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "cipher", required_argument, NULL, OPT_CIPHER },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "ktls", required_argument, NULL, OPT_KTLS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ NULL, 0, NULL, 0 },
};

const char link_opts_help[] =
	"Credentials (one of --dir, --config, or --ca with --cert and --key):\n"
	"  --dir DIR          FISCO BCOS node certificate directory: ca.crt with\n"
	"                     node.crt+node.key (2.x) or ssl.crt+ssl.key (3.x),\n"
	"                     optional crl/*.crl\n"
	"  --config FILE      FISCO BCOS node config.ini ([network_security] or [cert],\n"
	"                     [certificate_blacklist], [certificate_whitelist])\n"
	"  --ca FILE          root certificate(s) (PEM)\n"
	"  --cert FILE        node certificate followed by its agency certificate\n"
	"  --key FILE         node private key\n"
	"  --crl FILE         revocation list, repeatable\n"
	"Peers:\n"
	"  --allow NODEID     accept only listed node IDs, repeatable\n"
	"  --deny NODEID      refuse this node ID (wins over --allow), repeatable\n"
	"  --allow-file FILE  node IDs to allow, one a line, # comments\n"
	"  --deny-file FILE   node IDs to deny, one a line, # comments\n"
	"TLS:\n"
	"  --tls 1.2|1.3      only this protocol version (repeat or comma-separate)\n"
	"  --cipher aes128gcm|aes256gcm|chacha20\n"
	"                     only these ciphers (repeat or comma-separate)\n"
	"  --priority STR     GnuTLS priority string (instead of --tls/--cipher)\n"
	"  --timeout MS       handshake timeout in milliseconds (default 10000)\n"
	"  --ktls auto|off|require\n"
	"                     records in the kernel where possible (auto), never\n"
	"                     (off), or fail unless both directions can (require)\n"
	"  -v, --verbose      print the negotiated link to stderr\n"
	"  -q, --quiet        print nothing but errors\n";

void errmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("ktlink: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

struct option *opts_merge(const struct option *own)
{
	size_t n_own = 0, n_link = 0;
	struct option *all;

	while (own[n_own].name)
		n_own++;
	while (link_long_opts[n_link].name)
		n_link++;
	all = calloc(n_own + n_link + 1, sizeof(*all));
	if (!all)
		return NULL;
	memcpy(all, own, n_own * sizeof(*all));
	memcpy(all + n_own, link_long_opts, (n_link + 1) * sizeof(*all));
	return all;
}

static int list_add(struct str_list *l, const char *s)
{
	const char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v) {
		errmsg("out of memory");
		return -1;
	}
	v[l->n++] = s;
	l->v = v;
	return 1;
}

struct word {
	const char *name;
	unsigned bit;
};

static const struct word tls_words[] = {
	{ "1.2", KTL_TLS12 }, { "1.3", KTL_TLS13 }, { NULL, 0 },
};

static const struct word cipher_words[] = {
	{ "aes128gcm", KTL_AES_128_GCM },
	{ "aes256gcm", KTL_AES_256_GCM },
	{ "chacha20", KTL_CHACHA20_POLY1305 },
	{ NULL, 0 },
};

/* Comma-separated words into a mask. */
static int parse_words(const char *flag, const char *arg, const struct word *words,
		       unsigned *mask)
{
	const char *p = arg;

	while (*p) {
		size_t len = strcspn(p, ",");
		const struct word *w;

		for (w = words; w->name; w++)
			if (strlen(w->name) == len && !strncmp(w->name, p, len))
				break;
		if (!w->name) {
			errmsg("--%s: unknown value '%.*s' (expected %s)", flag, (int)len, p,
			       words == tls_words ? "1.2 or 1.3" : "aes128gcm, aes256gcm or chacha20");
			return -1;
		}
		*mask |= w->bit;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!*mask) {
		errmsg("--%s: no value given", flag);
		return -1;
	}
	return 1;
}

static int parse_timeout(const char *arg, unsigned *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v == 0 || v > 3600000) {
		errmsg("--timeout: '%s' is not a number of milliseconds (1..3600000)", arg);
		return -1;
	}
	*out = (unsigned)v;
	return 1;
}

int opts_handle(struct link_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case OPT_CA: o->ca = arg; return 1;
	case OPT_CERT: o->cert = arg; return 1;
	case OPT_KEY: o->key = arg; return 1;
	case OPT_DIR: o->dir = arg; return 1;
	case OPT_CONFIG: o->config = arg; return 1;
	case OPT_CRL: return list_add(&o->crls, arg);
	case OPT_ALLOW: return list_add(&o->allow, arg);
	case OPT_DENY: return list_add(&o->deny, arg);
	case OPT_ALLOW_FILE: return list_add(&o->allow_files, arg);
	case OPT_DENY_FILE: return list_add(&o->deny_files, arg);
	case OPT_TLS: return parse_words("tls", arg, tls_words, &o->protocols);
	case OPT_CIPHER: return parse_words("cipher", arg, cipher_words, &o->ciphers);
	case OPT_PRIORITY: o->priority = arg; return 1;
	case OPT_TIMEOUT: return parse_timeout(arg, &o->timeout_ms);
	case OPT_KTLS:
		if (!strcmp(arg, "auto"))
			o->ktls = KTL_KTLS_AUTO;
		else if (!strcmp(arg, "off"))
			o->ktls = KTL_KTLS_OFF;
		else if (!strcmp(arg, "require"))
			o->ktls = KTL_KTLS_REQUIRE;
		else {
			errmsg("--ktls: unknown mode '%s' (expected auto, off or require)", arg);
			return -1;
		}
		return 1;
	case 'v': o->verbose++; o->quiet = false; return 1;
	case 'q': o->quiet = true; o->verbose = 0; return 1;
	default: return 0;
	}
}

static int check_combination(const struct link_opts *o)
{
	bool files = o->ca || o->cert || o->key;
	int sources = !!files + !!o->dir + !!o->config;

	if (sources == 0) {
		errmsg("no credentials: give --dir DIR, --config FILE, or --ca, --cert and --key");
		return -1;
	}
	if (sources > 1) {
		errmsg("--dir, --config and --ca/--cert/--key are alternatives; give one");
		return -1;
	}
	if (files && (!o->ca || !o->cert || !o->key)) {
		errmsg("--ca, --cert and --key go together; missing %s",
		       !o->ca ? "--ca" : !o->cert ? "--cert" : "--key");
		return -1;
	}
	if (o->priority && (o->protocols || o->ciphers)) {
		errmsg("--priority replaces --tls and --cipher; give one or the other");
		return -1;
	}
	return 0;
}

/* One node ID a line; '#' starts a comment; blank lines are skipped. */
static int load_node_file(struct ktl_config *cfg, const char *path,
			  int (*add)(struct ktl_config *, const char *))
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, r = 0, added = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		errmsg("%s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s = line, *e;

		lineno++;
		e = strchr(s, '#');
		if (e)
			*e = '\0';
		s += strspn(s, " \t\r\n");
		e = s + strlen(s);
		while (e > s && strchr(" \t\r\n", e[-1]))
			e--;
		*e = '\0';
		if (!*s)
			continue;
		if (add(cfg, s) < 0) {
			errmsg("%s:%d: %s", path, lineno, ktl_last_error());
			r = -1;
			break;
		}
		added++;
	}
	if (r == 0 && ferror(f)) {
		errmsg("%s: read error", path);
		r = -1;
	}
	/* An empty allow file would silently allow everyone. */
	if (r == 0 && added == 0) {
		errmsg("%s: no node IDs in the file", path);
		r = -1;
	}
	free(line);
	fclose(f);
	return r;
}

static int fail_lib(void)
{
	errmsg("%s", ktl_last_error());
	return 1;
}

int opts_build_config(struct link_opts *o, struct ktl_config **out)
{
	struct ktl_config *cfg = NULL;
	size_t i;
	int r;

	*out = NULL;
	if (check_combination(o) < 0)
		return EXIT_USAGE;
	if (ktl_config_new(&cfg) < 0)
		return fail_lib();

	if (o->dir)
		r = ktl_config_load_dir(cfg, o->dir);
	else if (o->config)
		r = ktl_config_load_ini(cfg, o->config);
	else {
		r = ktl_config_set_ca(cfg, o->ca);
		if (r == 0)
			r = ktl_config_set_cert_key(cfg, o->cert, o->key);
	}
	for (i = 0; r == 0 && i < o->crls.n; i++)
		r = ktl_config_add_crl(cfg, o->crls.v[i]);
	for (i = 0; r == 0 && i < o->allow.n; i++)
		r = ktl_config_allow_node(cfg, o->allow.v[i]);
	for (i = 0; r == 0 && i < o->deny.n; i++)
		r = ktl_config_deny_node(cfg, o->deny.v[i]);
	if (r == 0 && o->priority)
		r = ktl_config_set_priority(cfg, o->priority);
	if (r == 0 && (o->protocols || o->ciphers))
		r = ktl_config_restrict(cfg, o->protocols, o->ciphers);
	if (r == 0 && o->timeout_ms)
		r = ktl_config_set_handshake_timeout(cfg, o->timeout_ms);
	if (r == 0)
		r = ktl_config_set_ktls(cfg, o->ktls);
	/* Before a listen or connect: a peer would only see a broken handshake. */
	if (r == 0)
		r = ktl_config_check(cfg);
	if (r < 0) {
		ktl_config_free(cfg);
		return fail_lib();
	}
	/* These print their own errors, naming the file and line. */
	for (i = 0; i < o->allow_files.n; i++)
		if (load_node_file(cfg, o->allow_files.v[i], ktl_config_allow_node) < 0)
			goto fail;
	for (i = 0; i < o->deny_files.n; i++)
		if (load_node_file(cfg, o->deny_files.v[i], ktl_config_deny_node) < 0)
			goto fail;
	*out = cfg;
	return 0;
fail:
	ktl_config_free(cfg);
	return 1;
}

void opts_free(struct link_opts *o)
{
	free(o->crls.v);
	free(o->allow.v);
	free(o->deny.v);
	free(o->allow_files.v);
	free(o->deny_files.v);
	memset(o, 0, sizeof(*o));
}
