/* SPDX-License-Identifier: MIT */
/* `ktlink bench` options: text in, struct bench_opts out, nothing run. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

const char *const bench_path_names[BP_COUNT] = {
	[BP_TCP] = "tcp",
	[BP_GNUTLS] = "gnutls",
	[BP_OPENSSL] = "openssl",
	[BP_KTLS] = "ktls",
	[BP_KTLS_URING] = "ktls-uring",
	[BP_KTLS_SENDFILE] = "ktls-sendfile",
	[BP_URING] = "uring",
};

/* A day: longer is a typo, not a benchmark. */
#define MAX_SECONDS 86400

static const size_t default_sweep[] = { 1024, 4096, 16384, 65536, 262144 };

void bench_usage(FILE *f)
{
	fprintf(f,
		"Usage: ktlink bench [OPTIONS]\n"
		"\nThroughput of ktlink links over loopback against plain TCP and OpenSSL,\n"
		"client and server in threads of this process, every byte verified.\n"
		"\nPaths:\n"
		"  tcp            plain TCP read/write (the ceiling)\n"
		"  gnutls         ktlink, records in GnuTLS (kTLS off), ktl_send/ktl_recv\n"
		"  openssl        OpenSSL libssl, same protocol, cipher and certificates\n"
		"  ktls           ktlink with kTLS, read/write on ktl_fd()\n"
		"  ktls-uring     ktlink with kTLS, driven by the io_uring engine\n"
		"  ktls-sendfile  file to socket with ktl_sendfile (kTLS TX), receiver read()s\n"
		"  uring          the io_uring engine on user-space records (kTLS off)\n"
		"\nOptions:\n"
		"  --certs DIR          chain made by ktlink certs (uses\n"
		"                       DIR/agency0/node0 and node1; default build/certs)\n"
		"  --paths LIST         comma-separated paths, or all (default all)\n"
		"  --time SECONDS       per path, 0.1 to 86400 (default 3)\n"
		"  --size BYTES         message size, k/m suffixes (default 16k)\n"
		"  --sweep[=LIST]       several sizes (default 1k,4k,16k,64k,256k)\n"
		"  --links N            parallel links, 1 to 256 (default 1)\n"
		"  --tls 1.2|1.3        protocol (default 1.3)\n"
		"  --cipher aes128gcm|aes256gcm|chacha20   (default aes128gcm)\n"
		"  --direction one-way|both   client to server, or both ways at once\n"
		"  --repeat N           rounds of all paths; the median run is reported,\n"
		"                       ratios paired within rounds (default 1)\n"
		"  --interval SECONDS   between progress lines (default 1; 0: none)\n"
		"  --json FILE          write the results as one JSON object\n"
		"  --plot FILE.png      plot throughput over time, and against message\n"
		"                       size with --sweep (needs gnuplot)\n"
		"  --handshakes         full mutual-auth handshakes per second over all\n"
		"                       cores, ktlink and OpenSSL, for --time seconds\n"
		"  --scale N            N links at once over one ring per side: set-up\n"
		"                       handshakes/s, memory per link, aggregate throughput\n"
		"  -h, --help           this text\n"
		"\nA path this system cannot run is listed as unavailable with the reason.\n"
		"Exit status: 0 every chosen path ran clean or is unavailable here; 1 a path,\n"
		"the handshake or scale run failed, or the JSON/plot could not be written;\n"
		"2 a bad option.\n");
}

int bench_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	/* strtoull would skip blanks and wrap "-1": neither is a size. */
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10, end++;
		break;
	case 'm': case 'M':
		shift = 20, end++;
		break;
	case 'g': case 'G':
		shift = 30, end++;
		break;
	default:
		return -1;
	}
	/* Allow "16kb", "16KiB". */
	if (shift && (!strcasecmp(end, "b") || !strcasecmp(end, "ib")))
		end += strlen(end);
	if (*end || v == 0 || v > (1ull << 40) >> shift)
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

int bench_parse_size_list(const char *s, size_t *out, unsigned max)
{
	char buf[512], *tok, *save = NULL;
	unsigned n = 0;

	/* strtok would skip an empty item ("1k,,4k", "1k,"): a typo. */
	if (!s || strlen(s) >= sizeof(buf) || *s == ',' || strstr(s, ",,") || (*s && s[strlen(s) - 1] == ','))
		return -1;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == max || bench_parse_size(tok, &out[n]) < 0)
			return -1;
		n++;
	}
	return n ? (int)n : -1;
}

int bench_parse_paths(const char *s, unsigned *mask, const char **bad)
{
	static char badbuf[64];
	const char *p = s;
	unsigned m = 0;

	if (!s)
		return -1;
	while (p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int i, found = 0;

		if (n == 3 && !strncmp(p, "all", 3)) {
			m |= (1u << BP_COUNT) - 1;
			found = 1;
		}
		for (i = 0; i < BP_COUNT && !found; i++)
			if (strlen(bench_path_names[i]) == n && !strncmp(p, bench_path_names[i], n)) {
				m |= 1u << i;
				found = 1;
			}
		if (!found) {
			/* An empty name ("tcp,", ",tcp", "tcp,,gnutls") is a typo too. */
			snprintf(badbuf, sizeof(badbuf), "%.*s", (int)(n < 60 ? n : 60), p);
			*bad = badbuf;
			return -1;
		}
		p = comma ? comma + 1 : NULL;
	}
	if (!m) {
		*bad = "";
		return -1;
	}
	*mask = m;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_seconds(const char *s, double min, double *out)
{
	char *end;
	double v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= min) || v > MAX_SECONDS)
		return -1;
	*out = v;
	return 0;
}

enum {
	O_PATHS = 0x100, O_TIME, O_SIZE, O_SWEEP, O_LINKS, O_TLS, O_CIPHER, O_DIRECTION, O_REPEAT,
	O_JSON, O_PLOT, O_HANDSHAKES, O_SCALE, O_CERTS, O_INTERVAL
};

static const struct option long_opts[] = {
	{ "paths", required_argument, NULL, O_PATHS },
	{ "time", required_argument, NULL, O_TIME },
	{ "size", required_argument, NULL, O_SIZE },
	{ "sweep", optional_argument, NULL, O_SWEEP },
	{ "links", required_argument, NULL, O_LINKS },
	{ "tls", required_argument, NULL, O_TLS },
	{ "cipher", required_argument, NULL, O_CIPHER },
	{ "direction", required_argument, NULL, O_DIRECTION },
	{ "repeat", required_argument, NULL, O_REPEAT },
	{ "json", required_argument, NULL, O_JSON },
	{ "plot", required_argument, NULL, O_PLOT },
	{ "handshakes", no_argument, NULL, O_HANDSHAKES },
	{ "scale", required_argument, NULL, O_SCALE },
	{ "certs", required_argument, NULL, O_CERTS },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("ktlink bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see ktlink bench --help)\n", stderr);
	return 2;
}

/* Results come at the end of a run that may take minutes: refuse an
 * output file that could not be written before measuring anything. */
static int check_output(const char *opt, const char *path, const char *suffix)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = strlen(path);
	struct stat sb;
	int fd;

	if (!n)
		return usage_err("%s: the file name is empty", opt);
	if (n >= sizeof(dir) - 8)
		return usage_err("%s: the file name is too long", opt);
	if (suffix && (n <= strlen(suffix) || strcasecmp(path + n - strlen(suffix), suffix)))
		return usage_err("%s: '%s' does not end in %s", opt, path, suffix);
	for (const char *c = path; *c; c++)
		if (iscntrl((unsigned char)*c))
			return usage_err("%s: the file name has a control character", opt);
	if (path[n - 1] == '/' || (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)))
		return usage_err("%s: '%s' is a directory", opt, path);
	/* A FIFO would block the open until a reader comes. */
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISCHR(sb.st_mode))
		return usage_err("%s: '%s' is not a regular file", opt, path);
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &sb) < 0)
		return usage_err("%s: directory %s: %s", opt, dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return usage_err("%s: %s is not a directory", opt, dir);
	/* Trying is the only honest test (root passes access() on /proc).
	 * An existing file is opened without truncating it; a new one is
	 * created and removed again. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(fd);
		unlink(path);
		return 0;
	}
	if (errno == EEXIST)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return usage_err("%s: cannot write %s: %s", opt, path, strerror(errno));
	close(fd);
	return 0;
}

/* path with its directory resolved (symlinks, "./", ".."), or as given
 * when the directory cannot be resolved. */
static void canonical(const char *path, char *out, size_t len)
{
	char dir[4096], *res;
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	res = realpath(dir, NULL);
	snprintf(out, len, "%s/%s", res ? res : dir, slash ? slash + 1 : path);
	free(res);
}

/* The same file under two names ("a.png", "./a.png", a symlink)? */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	char ca[8200], cb[8200];

	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	canonical(a, ca, sizeof(ca));
	canonical(b, cb, sizeof(cb));
	return !strcmp(ca, cb);
}

int bench_parse_args(struct bench_opts *o, int argc, char **argv)
{
	const char *bad = NULL;
	bool size_set = false, sweep = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->paths = (1u << BP_COUNT) - 1;
	o->time_s = 3;
	o->sizes[0] = 16384;
	o->n_sizes = 1;
	o->links = 1;
	o->tls13 = 1;
	o->repeat = 1;
	o->interval_s = 1;
	o->certs = "build/certs";
	optind = 0; /* a full reset: the tests parse many argv's */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		const char *a = optarg;
		unsigned u;

		switch (c) {
		case 'h':
			o->help = true;
			return 0;
		case O_PATHS:
			if (bench_parse_paths(a, &o->paths, &bad) < 0)
				return *bad ? usage_err("--paths: unknown path '%s'", bad)
					    : usage_err("--paths: '%s' has an empty path name", a);
			break;
		case O_TIME:
			if (parse_seconds(a, 0.1, &o->time_s) < 0)
				return usage_err("--time: '%s' is not a number of seconds from 0.1 to %d", a, MAX_SECONDS);
			break;
		case O_SIZE:
			if (bench_parse_size(a, &o->sizes[0]) < 0 || o->sizes[0] > (64u << 20))
				return usage_err("--size: '%s' is not a size of 1 byte to 64m", a);
			size_set = true;
			break;
		case O_SWEEP:
			/* Also "--sweep LIST": take the next word if it looks like sizes. */
			if (!a && optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9')
				a = argv[optind++];
			if (a) {
				int n = bench_parse_size_list(a, o->sizes, BENCH_MAX_SIZES + 1);

				if (n < 0)
					return usage_err("--sweep: '%s' is not a list of sizes like 1k,16k,1m", a);
				if (n > BENCH_MAX_SIZES)
					return usage_err("--sweep: more than %d sizes", BENCH_MAX_SIZES);
				o->n_sizes = (unsigned)n;
				for (u = 0; u < o->n_sizes; u++)
					for (unsigned v = 0; v < u; v++)
						if (o->sizes[u] == o->sizes[v])
							return usage_err("--sweep: size %zu is listed twice", o->sizes[u]);
			} else {
				memcpy(o->sizes, default_sweep, sizeof(default_sweep));
				o->n_sizes = sizeof(default_sweep) / sizeof(default_sweep[0]);
			}
			for (u = 0; u < o->n_sizes; u++)
				if (o->sizes[u] > (64u << 20))
					return usage_err("--sweep: sizes above 64m are not supported");
			sweep = true;
			break;
		case O_LINKS:
			if (parse_uint(a, 1, 256, &o->links) < 0)
				return usage_err("--links: '%s' is not a number from 1 to 256", a);
			break;
		case O_TLS:
			if (!strcmp(a, "1.3"))
				o->tls13 = 1;
			else if (!strcmp(a, "1.2"))
				o->tls13 = 0;
			else
				return usage_err("--tls: '%s' is not 1.2 or 1.3", a);
			break;
		case O_CIPHER:
			if (!strcasecmp(a, "aes128gcm") || !strcasecmp(a, "aes-128-gcm"))
				o->cipher = CIPHER_AES128GCM;
			else if (!strcasecmp(a, "aes256gcm") || !strcasecmp(a, "aes-256-gcm"))
				o->cipher = CIPHER_AES256GCM;
			else if (!strcasecmp(a, "chacha20") || !strcasecmp(a, "chacha20-poly1305"))
				o->cipher = CIPHER_CHACHA20;
			else
				return usage_err("--cipher: '%s' is not aes128gcm, aes256gcm or chacha20", a);
			break;
		case O_DIRECTION:
			if (!strcmp(a, "one-way"))
				o->direction = DIR_ONE_WAY;
			else if (!strcmp(a, "both"))
				o->direction = DIR_BOTH;
			else
				return usage_err("--direction: '%s' is not one-way or both", a);
			break;
		case O_REPEAT:
			if (parse_uint(a, 1, BENCH_MAX_REPEAT, &o->repeat) < 0)
				return usage_err("--repeat: '%s' is not a number from 1 to %d", a, BENCH_MAX_REPEAT);
			break;
		case O_JSON:
			if (check_output("--json", a, NULL))
				return 2;
			o->json = a;
			break;
		case O_PLOT:
			if (check_output("--plot", a, ".png"))
				return 2;
			/* gnuplot's data and script go beside the picture. */
			for (u = 0; u < 2; u++) {
				char side[4200];

				snprintf(side, sizeof(side), "%s.%s", a, u ? "gp" : "dat");
				if (check_output("--plot", side, NULL))
					return 2;
			}
			o->plot = a;
			break;
		case O_HANDSHAKES:
			o->handshakes = true;
			break;
		case O_SCALE:
			if (parse_uint(a, 1, 100000, &o->scale) < 0)
				return usage_err("--scale: '%s' is not a number of links from 1 to 100000", a);
			break;
		case O_CERTS:
			if (!*a)
				return usage_err("--certs: the directory name is empty");
			o->certs = a;
			break;
		case O_INTERVAL:
			if (parse_seconds(a, 0, &o->interval_s) < 0)
				return usage_err("--interval: '%s' is not a number of seconds from 0 to %d", a, MAX_SECONDS);
			if (o->interval_s > 0 && o->interval_s < 0.05)
				return usage_err("--interval: '%s' is below 0.05 s", a);
			break;
		case ':':
			return usage_err("%s needs a value", argv[optind - 1]);
		default:
			/* getopt reports "--handshakes=1" as unknown; say what it is. */
			if (!strncmp(argv[optind - 1], "--", 2) && strchr(argv[optind - 1], '='))
				return usage_err("%.*s takes no value", (int)strcspn(argv[optind - 1], "="),
						 argv[optind - 1]);
			return usage_err("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_err("unexpected argument '%s'", argv[optind]);
	if (size_set && sweep)
		return usage_err("--size and --sweep exclude each other");
	if (o->plot && !sweep && (o->interval_s == 0 || o->interval_s > o->time_s))
		return usage_err("--plot draws the progress intervals (or sizes with --sweep): --interval must be "
				 "above 0 and at most --time");
	if (o->json && o->plot) {
		char dat[4200], gp[4200];

		snprintf(dat, sizeof(dat), "%s.dat", o->plot);
		snprintf(gp, sizeof(gp), "%s.gp", o->plot);
		if (same_file(o->json, o->plot) || same_file(o->json, dat) || same_file(o->json, gp))
			return usage_err("--json %s would be overwritten by --plot %s", o->json, o->plot);
	}
	return 0;
}
