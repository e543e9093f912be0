/* SPDX-License-Identifier: MIT */
/* Option parsing shared by the subcommands that open a link. */
#ifndef KTLINK_OPTS_H
#define KTLINK_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "ktlink.h"

#define EXIT_USAGE 2

/* Options repeated on the command line keep every value, in order. */
struct str_list {
	const char **v;
	size_t n;
};

struct link_opts {
	const char *ca, *cert, *key;   /* explicit files */
	const char *dir;               /* FISCO certificate directory */
	const char *config;            /* FISCO config.ini */
	struct str_list crls, allow, deny, allow_files, deny_files;
	unsigned protocols, ciphers;   /* 0: not restricted */
	const char *priority;
	unsigned timeout_ms;           /* 0: library default */
	enum ktl_ktls_mode ktls;
	int verbose;
	bool quiet;
};

/* getopt_long() entries for the credential and TLS options, terminated by
 * a zero entry, and their text for --help. */
extern const struct option link_long_opts[];
extern const char link_opts_help[];

/* Long options that have no short form get values above any character. */
enum {
	OPT_CA = 0x100, OPT_CERT, OPT_KEY, OPT_CRL, OPT_DIR, OPT_CONFIG, OPT_ALLOW,
	OPT_DENY, OPT_ALLOW_FILE, OPT_DENY_FILE, OPT_TLS, OPT_CIPHER, OPT_PRIORITY,
	OPT_TIMEOUT, OPT_KTLS, OPT_LINK_LAST
};

/* Merges link_long_opts after a subcommand's own entries; free() the result. */
struct option *opts_merge(const struct option *own);
/* Handles one option returned by getopt_long().  Returns 1 if it was one of
 * ours, 0 if not, or -1 after printing a usage error. */
int opts_handle(struct link_opts *o, int opt, const char *arg);
/* Checks the combination and builds the configuration.  Returns 0, or
 * EXIT_USAGE / 1 after printing the error. */
int opts_build_config(struct link_opts *o, struct ktl_config **out);
void opts_free(struct link_opts *o);

/* Prints "ktlink: <msg>" to stderr. */
void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
