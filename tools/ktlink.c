/* SPDX-License-Identifier: MIT */
/* `ktlink`: a table of subcommands and the loop that picks one. */
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ktlink.h"

#define EXIT_USAGE 2

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *desc;
} commands[] = {
	{ "serve", cmd_serve_main, "accept one link and carry stdin/stdout over it" },
	{ "connect", cmd_connect_main, "open a link to a node and carry stdin/stdout over it" },
	{ "certs", cmd_certs_main, "make a demo chain: root, agencies and nodes" },
	{ "info", cmd_info_main, "show what the kernel and libraries here support" },
	{ "bench", cmd_bench_main, "measure throughput and handshakes against TCP and OpenSSL" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: ktlink COMMAND [OPTIONS]\n"
		   "       ktlink COMMAND --help\n"
		   "\nMutually authenticated node-to-node TLS links (FISCO BCOS certificates),\n"
		   "with records in the kernel (kTLS) where it can.\n\nCommands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].desc);
	fprintf(f, "\n  --help     this text\n  --version  print the version\n"
		   "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;
	size_t i;

	if (!name) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		/* `ktlink help CMD` is `ktlink CMD --help`. */
		if (argc > 2 && strcmp(name, "help") == 0) {
			for (i = 0; i < N_COMMANDS; i++)
				if (!strcmp(argv[2], commands[i].name)) {
					char *sub[] = { argv[2], "--help", NULL };

					return commands[i].fn(2, sub);
				}
			fprintf(stderr, "ktlink: unknown command '%s' (see ktlink --help)\n", argv[2]);
			return EXIT_USAGE;
		}
		usage(stdout);
		return 0;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "-V") || !strcmp(name, "version")) {
		printf("ktlink %s (GnuTLS %s)\n", KTL_VERSION, gnutls_check_version(NULL));
		return 0;
	}
	for (i = 0; i < N_COMMANDS; i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ktlink: unknown command '%s' (see ktlink --help)\n", name);
	return EXIT_USAGE;
}
