/* SPDX-License-Identifier: MIT */
/*
 * `ktlink serve` and `ktlink connect`: one link, stdin to the peer and the
 * peer to stdout, like `ncat --ssl`.
 *
 * Two threads pump the two directions; GnuTLS (and the kernel) allow a
 * record send and a record receive on one session at the same time, and
 * blocking calls keep the pump free of "does GnuTLS hold decrypted data"
 * guesses.  Each side ends its sending with close_notify at stdin EOF and
 * exits once it has also read the peer's close_notify.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "opts.h"

#define PUMP_BUF (64 * 1024)

/* ---- the pump ------------------------------------------------------------ */

/* Grace for the receiving side to explain a failed send: when the peer
 * vanished, its read side says how (truncation, reset, alert). */
#define RX_GRACE_MS 500

struct dir_state {
	bool done;
	bool failed;
	char err[640];             /* worded for "ktlink: <err>" */
};

struct pump {
	struct ktl_conn *c;
	char peer[80];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dir_state tx, rx;
	atomic_bool stopping;      /* failures after this are consequences */
	int wake[2];               /* tells the stdin thread to stop */
};

static void pump_fail(struct pump *p, struct dir_state *d, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pump_fail(struct pump *p, struct dir_state *d, const char *fmt, ...)
{
	va_list ap;

	if (atomic_load(&p->stopping))
		return;
	pthread_mutex_lock(&p->lock);
	if (!d->failed) {
		d->failed = true;
		va_start(ap, fmt);
		vsnprintf(d->err, sizeof(d->err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&p->lock);
}

static void pump_done(struct pump *p, struct dir_state *d)
{
	pthread_mutex_lock(&p->lock);
	d->done = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *stdin_to_link(void *arg)
{
	struct pump *p = arg;
	unsigned char *buf = malloc(PUMP_BUF);

	if (!buf) {
		pump_fail(p, &p->tx, "out of memory");
		goto out;
	}
	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = p->wake[0], .events = POLLIN },
		};
		ssize_t n;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			pump_fail(p, &p->tx, "poll: %s", strerror(errno));
			break;
		}
		if (pf[1].revents)
			break;
		n = read(STDIN_FILENO, buf, PUMP_BUF);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			pump_fail(p, &p->tx, "stdin: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			if (ktl_shutdown(p->c) < 0)
				pump_fail(p, &p->tx, "%s", ktl_last_error());
			break;
		}
		if (ktl_send(p->c, buf, (size_t)n) < 0) {
			pump_fail(p, &p->tx, "%s", ktl_last_error());
			break;
		}
	}
out:
	free(buf);
	pump_done(p, &p->tx);
	return NULL;
}

static void *link_to_stdout(void *arg)
{
	struct pump *p = arg;
	unsigned char *buf = malloc(PUMP_BUF);

	if (!buf) {
		pump_fail(p, &p->rx, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = ktl_recv(p->c, buf, PUMP_BUF);
		int r;

		if (n == 0)
			break;
		if (n == -KTL_E_TRUNCATED) {
			pump_fail(p, &p->rx, "peer %s: connection closed without close_notify (truncated)",
				  p->peer);
			break;
		}
		if (n < 0) {
			pump_fail(p, &p->rx, "%s", ktl_last_error());
			break;
		}
		r = write_all(STDOUT_FILENO, buf, (size_t)n);
		if (r < 0) {
			pump_fail(p, &p->rx, "stdout: %s", strerror(-r));
			break;
		}
	}
out:
	free(buf);
	pump_done(p, &p->rx);
	return NULL;
}

static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	snprintf(out, len, "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

static bool pump_over(const struct pump *p)
{
	return (p->tx.done && p->rx.done) || (p->tx.done && p->tx.failed) ||
	       (p->rx.done && p->rx.failed);
}

/* Runs both directions to their end; takes c.  Returns the exit code. */
static int pump_run(struct ktl_conn *c)
{
	struct pump p = { .c = c, .lock = PTHREAD_MUTEX_INITIALIZER,
			  .cond = PTHREAD_COND_INITIALIZER };
	pthread_t tx, rx;
	bool have_tx = false, have_rx = false, failed;
	const char *msg = NULL;
	int code = 0, r;

	peer_name(ktl_fd(c), p.peer, sizeof(p.peer));
	if (pipe(p.wake) < 0) {
		errmsg("pipe: %s", strerror(errno));
		ktl_close(c);
		return 1;
	}
	r = pthread_create(&rx, NULL, link_to_stdout, &p);
	if (r == 0) {
		have_rx = true;
		r = pthread_create(&tx, NULL, stdin_to_link, &p);
		have_tx = r == 0;
	}
	if (r != 0) {
		pump_fail(&p, &p.tx, "pthread_create: %s", strerror(r));
		pump_done(&p, &p.tx);
	}

	pthread_mutex_lock(&p.lock);
	while (!pump_over(&p))
		pthread_cond_wait(&p.cond, &p.lock);
	if (p.tx.failed && !p.rx.done) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += RX_GRACE_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!p.rx.done &&
		       pthread_cond_timedwait(&p.cond, &p.lock, &until) != ETIMEDOUT)
			;
	}
	failed = p.tx.failed || p.rx.failed;
	pthread_mutex_unlock(&p.lock);

	if (failed) {
		/* Unblock whichever direction is still waiting: the stdin
		 * thread through its pipe, the link through the socket. */
		atomic_store(&p.stopping, true);
		if (write(p.wake[1], "x", 1) < 0) {
			/* The pipe is ours and empty; it cannot be full. */
		}
		shutdown(ktl_fd(c), SHUT_RDWR);
		code = 1;
	}
	if (have_tx)
		pthread_join(tx, NULL);
	if (have_rx)
		pthread_join(rx, NULL);
	close(p.wake[0]);
	close(p.wake[1]);
	/* The receiving side's account of a failure is the more telling. */
	if (p.rx.failed)
		msg = p.rx.err;
	else if (p.tx.failed)
		msg = p.tx.err;
	r = ktl_close(c);
	if (msg)
		errmsg("%s", msg);
	else if (r < 0) {
		errmsg("%s", ktl_last_error());
		code = 1;
	}
	return code;
}

/* ---- shared by both subcommands -------------------------------------------- */

/* The library's reasons usually name the place already ("user space: ..."). */
static void print_where(const char *dir, int kernel, const char *reason)
{
	const char *where = kernel ? "kernel" : "user space";

	if (!*reason)
		fprintf(stderr, "ktlink: %s in %s\n", dir, where);
	else if (!strncmp(reason, where, strlen(where)))
		fprintf(stderr, "ktlink: %s in %s\n", dir, reason);
	else
		fprintf(stderr, "ktlink: %s in %s (%s)\n", dir, where, reason);
}

static void print_info(const struct ktl_conn *c)
{
	struct ktl_info in;

	if (ktl_get_info(c, &in) < 0) {
		errmsg("%s", ktl_last_error());
		return;
	}
	fprintf(stderr, "ktlink: %s %s, key exchange %s\n", in.protocol, in.cipher, in.kx);
	fprintf(stderr, "ktlink: peer subject %s\n", in.peer_subject);
	fprintf(stderr, "ktlink: peer issuer %s\n", in.peer_issuer);
	fprintf(stderr, "ktlink: peer node ID %s\n", in.peer_node_id);
	print_where("TX", in.tx_kernel, in.tx_reason);
	print_where("RX", in.rx_kernel, in.rx_reason);
}

struct link_cmd {
	const char *name;
	const char *synopsis;
	const char *own_help;
	const char *optstring;
	const struct option *own;
};

static void link_usage(const struct link_cmd *lc, FILE *f)
{
	fprintf(f, "Usage: ktlink %s %s\n\n%s%s"
		   "\nExit status: 0 when both sides closed with close_notify, 1 on a\n"
		   "TLS, certificate, network or I/O failure, 2 on a usage error.\n",
		lc->name, lc->synopsis, lc->own_help, link_opts_help);
}

/*
 * Parses argv with the subcommand's own options plus the shared ones;
 * own_opt takes the subcommand's (returns 1, or -1 after a message).
 * Returns 0 to go on, or -1 with *code the exit code (0 after --help).
 */
static int parse_link_args(const struct link_cmd *lc, int argc, char **argv,
			   struct link_opts *lo, void *ctx,
			   int (*own_opt)(void *ctx, int opt, const char *arg), int *code)
{
	struct option *all = opts_merge(lc->own);
	int opt;

	if (!all) {
		errmsg("out of memory");
		*code = 1;
		return -1;
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, lc->optstring, all, NULL)) != -1) {
		int r;

		if (opt == 'h') {
			link_usage(lc, stdout);
			*code = 0;
			goto stop;
		}
		if (opt == '?' || opt == ':') {
			const char *bad = argv[optind - 1];

			if (opt == ':')
				errmsg("%s: option '%s' needs a value (see ktlink %s --help)",
				       lc->name, bad, lc->name);
			else if (optopt && !(bad[0] == '-' && bad[1] == '-'))
				errmsg("%s: unknown option '-%c' (see ktlink %s --help)",
				       lc->name, optopt, lc->name);
			else
				errmsg("%s: unknown option '%s' (see ktlink %s --help)",
				       lc->name, bad, lc->name);
			*code = EXIT_USAGE;
			goto stop;
		}
		r = opts_handle(lo, opt, optarg);
		if (r == 0)
			r = own_opt(ctx, opt, optarg);
		if (r < 0) {
			*code = EXIT_USAGE;
			goto stop;
		}
	}
	free(all);
	return 0;
stop:
	free(all);
	return -1;
}

/* ---- serve ------------------------------------------------------------------ */

struct serve_args {
	const char *listen, *port;
};

static const struct option serve_own[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "port", required_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct link_cmd serve_cmd = {
	.name = "serve",
	.synopsis = "[--listen HOST] --port PORT CREDENTIALS [OPTIONS]",
	.own_help =
		"Accepts one link, then copies stdin to the peer and the peer to stdout.\n"
		"At stdin EOF it sends close_notify; it exits after the peer's.\n\n"
		"  -l, --listen HOST  address to listen on (default: all)\n"
		"  -p, --port PORT    port to listen on\n"
		"  -h, --help         this text\n",
	.optstring = ":hvql:p:",
	.own = serve_own,
};

static int serve_opt(void *ctx, int opt, const char *arg)
{
	struct serve_args *a = ctx;

	switch (opt) {
	case 'l': a->listen = arg; return 1;
	case 'p': a->port = arg; return 1;
	}
	return -1;
}

/* Digits only, in range: getaddrinfo would wrap 70000 to 4464. */
static bool port_ok(const char *p, int min)
{
	char *end;
	unsigned long v;

	if (!*p || strspn(p, "0123456789") != strlen(p))
		return false;
	v = strtoul(p, &end, 10);
	return v >= (unsigned long)min && v <= 65535;
}

int cmd_serve_main(int argc, char **argv)
{
	struct link_opts lo = { 0 };
	struct serve_args a = { 0 };
	struct ktl_config *cfg = NULL;
	struct ktl_conn *c = NULL;
	int code, lfd, r;

	if (parse_link_args(&serve_cmd, argc, argv, &lo, &a, serve_opt, &code) < 0)
		goto out;
	code = EXIT_USAGE;
	if (optind < argc) {
		errmsg("serve: unexpected argument '%s' (see ktlink serve --help)", argv[optind]);
		goto out;
	}
	if (!a.port) {
		errmsg("serve: no --port given (see ktlink serve --help)");
		goto out;
	}
	if (!port_ok(a.port, 0)) {
		errmsg("serve: --port %s: not a port number (0-65535)", a.port);
		goto out;
	}
	code = opts_build_config(&lo, &cfg);
	if (code)
		goto out;

	signal(SIGPIPE, SIG_IGN);
	code = 1;
	lfd = ktl_listen(a.listen, a.port, 1);
	if (lfd < 0) {
		errmsg("%s", ktl_last_error());
		goto out;
	}
	if (lo.verbose) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		unsigned port = 0;

		/* --port 0 lets the kernel choose: say which it chose. */
		if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0)
			port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							      : ((struct sockaddr_in *)&ss)->sin_port);
		fprintf(stderr, "ktlink: listening on %s:%u\n", a.listen ? a.listen : "*", port);
	}
	r = ktl_accept(&c, cfg, lfd);
	close(lfd);
	if (r < 0) {
		errmsg("%s", ktl_last_error());
		goto out;
	}
	if (lo.verbose)
		print_info(c);
	code = pump_run(c);
out:
	ktl_config_free(cfg);
	opts_free(&lo);
	return code;
}

/* ---- connect ---------------------------------------------------------------- */

struct connect_args {
	const char *host, *port;
};

static const struct option connect_own[] = {
	{ "host", required_argument, NULL, 'H' },
	{ "port", required_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct link_cmd connect_cmd = {
	.name = "connect",
	.synopsis = "HOST PORT CREDENTIALS [OPTIONS]\n"
		    "       ktlink connect --host HOST --port PORT CREDENTIALS [OPTIONS]",
	.own_help =
		"Opens one link, then copies stdin to the peer and the peer to stdout.\n"
		"At stdin EOF it sends close_notify; it exits after the peer's.\n\n"
		"  -H, --host HOST    node to connect to\n"
		"  -p, --port PORT    its port\n"
		"  -h, --help         this text\n",
	.optstring = ":hvqH:p:",
	.own = connect_own,
};

static int connect_opt(void *ctx, int opt, const char *arg)
{
	struct connect_args *a = ctx;

	switch (opt) {
	case 'H': a->host = arg; return 1;
	case 'p': a->port = arg; return 1;
	}
	return -1;
}

int cmd_connect_main(int argc, char **argv)
{
	struct link_opts lo = { 0 };
	struct connect_args a = { 0 };
	struct ktl_config *cfg = NULL;
	struct ktl_conn *c = NULL;
	int code;

	if (parse_link_args(&connect_cmd, argc, argv, &lo, &a, connect_opt, &code) < 0)
		goto out;
	code = EXIT_USAGE;
	if (optind < argc && !a.host)
		a.host = argv[optind++];
	if (optind < argc && !a.port)
		a.port = argv[optind++];
	if (optind < argc) {
		errmsg("connect: unexpected argument '%s' (see ktlink connect --help)",
		       argv[optind]);
		goto out;
	}
	if (!a.host || !a.port) {
		errmsg("connect: no %s given (see ktlink connect --help)", !a.host ? "HOST" : "PORT");
		goto out;
	}
	if (!port_ok(a.port, 1)) {
		errmsg("connect: port %s: not a port number (1-65535)", a.port);
		goto out;
	}
	code = opts_build_config(&lo, &cfg);
	if (code)
		goto out;

	signal(SIGPIPE, SIG_IGN);
	code = 1;
	if (ktl_connect(&c, cfg, a.host, a.port) < 0) {
		errmsg("%s", ktl_last_error());
		goto out;
	}
	if (lo.verbose)
		print_info(c);
	code = pump_run(c);
out:
	ktl_config_free(cfg);
	opts_free(&lo);
	return code;
}
