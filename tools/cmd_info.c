/* SPDX-License-Identifier: MIT */
/* `ktlink info`: what this kernel and these libraries can do for a link. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ktlink.h"

#define EXIT_USAGE 2

static const struct {
	unsigned bit;
	const char *name;
} ciphers[] = {
	{ KTL_AES_128_GCM, "AES-128-GCM" },
	{ KTL_AES_256_GCM, "AES-256-GCM" },
	{ KTL_CHACHA20_POLY1305, "CHACHA20-POLY1305" },
};

#define N_CIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

/* Why the tls ULP is refused, in words a reader can act on. */
static const char *ulp_reason(int err)
{
	switch (err) {
	case ENOENT:
		return "kernel built without CONFIG_TLS or tls module not loaded (modprobe tls)";
	case ENOPROTOOPT:
		return "kernel without TCP_ULP support";
	case EPERM:
	case EACCES:
		return "not permitted here (container or seccomp policy)";
	default:
		return strerror(err);
	}
}

static const char *uring_reason(int err)
{
	switch (err) {
	case ENOSYS:
		return "kernel without io_uring";
	case EPERM:
		return "disabled (kernel.io_uring_disabled sysctl or seccomp)";
	case ENOMEM:
		return "locked memory limit too low (ulimit -l)";
	default:
		return strerror(err);
	}
}

static const char *errno_name(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "?";
}

static void print_text(const struct ktl_support *s)
{
	unsigned masks[2] = { s->ktls_tls12_ciphers, s->ktls_tls13_ciphers };
	const char *vers[2] = { "1.2", "1.3" };
	size_t v, i;

	printf("kernel:       %s\n", s->kernel_release);
	printf("gnutls:       %s\n", s->gnutls_version);
	if (s->ktls_ulp)
		printf("kTLS:         yes (TCP_ULP tls)\n");
	else
		printf("kTLS:         no (TCP_ULP tls: %s - %s)\n", errno_name(s->ktls_ulp_err),
		       ulp_reason(s->ktls_ulp_err));
	for (v = 0; v < 2; v++) {
		printf("kTLS TLS %s: ", vers[v]);
		for (i = 0; i < N_CIPHERS; i++)
			printf("%s%s %s", i ? ", " : "", ciphers[i].name,
			       masks[v] & ciphers[i].bit ? "yes" : "no");
		printf("\n");
	}
	if (s->io_uring)
		printf("io_uring:     yes\n");
	else
		printf("io_uring:     no (%s - %s)\n", errno_name(s->io_uring_err),
		       uring_reason(s->io_uring_err));
}

/* The strings printed come from uname, GnuTLS and our own tables: none
 * holds a quote or a backslash that would need escaping. */
static void print_json(const struct ktl_support *s)
{
	unsigned masks[2] = { s->ktls_tls12_ciphers, s->ktls_tls13_ciphers };
	const char *keys[2] = { "tls12", "tls13" };
	size_t v, i;

	printf("{\n  \"kernel\": \"%s\",\n  \"gnutls\": \"%s\",\n", s->kernel_release,
	       s->gnutls_version);
	printf("  \"ktls\": {\n    \"ulp\": %s,\n", s->ktls_ulp ? "true" : "false");
	if (!s->ktls_ulp)
		printf("    \"ulp_error\": \"%s\",\n    \"ulp_reason\": \"%s\",\n",
		       errno_name(s->ktls_ulp_err), ulp_reason(s->ktls_ulp_err));
	for (v = 0; v < 2; v++) {
		bool first = true;

		printf("    \"%s\": [", keys[v]);
		for (i = 0; i < N_CIPHERS; i++) {
			if (!(masks[v] & ciphers[i].bit))
				continue;
			printf("%s\"%s\"", first ? "" : ", ", ciphers[i].name);
			first = false;
		}
		printf("]%s\n", v == 0 ? "," : "");
	}
	printf("  },\n  \"io_uring\": %s", s->io_uring ? "true" : "false");
	if (!s->io_uring)
		printf(",\n  \"io_uring_error\": \"%s\",\n  \"io_uring_reason\": \"%s\"",
		       errno_name(s->io_uring_err), uring_reason(s->io_uring_err));
	printf("\n}\n");
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ktlink info [--json]\n\n"
		   "Shows whether the kernel takes TLS records (the tls ULP) and for which\n"
		   "protocol and cipher pairs, whether io_uring works, and the GnuTLS and\n"
		   "kernel versions.\n\n"
		   "  --json      print the same as a JSON object\n"
		   "  -h, --help  this text\n"
		   "\nExit status: 0 success, 1 the probe failed, 2 usage error.\n");
}

int cmd_info_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ktl_support s;
	bool json = false;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "ktlink: info: unknown option '%s' (see ktlink info --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ktlink: info: unexpected argument '%s' (see ktlink info --help)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (ktl_probe_support(&s) < 0) {
		fprintf(stderr, "ktlink: %s\n", ktl_last_error());
		return 1;
	}
	if (json)
		print_json(&s);
	else
		print_text(&s);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ktlink: stdout: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
