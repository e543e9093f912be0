/* SPDX-License-Identifier: MIT */
/* Interoperability with GnuTLS's own tools, mutual authentication on both
 * sides: gnutls-serv as the server of a ktlink client, gnutls-cli as the
 * client of a ktlink server, TLS 1.2 and 1.3, data checked byte for byte.
 *
 * Every tool runs in its own process group; the group is killed and reaped
 * in every path (the teardown runs even when an assertion fails). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define SRV_DIR "ecdsa/agency0/node0"
#define CLI_DIR "ecdsa/agency0/node1"
#define PRIO12 "NORMAL:-VERS-ALL:+VERS-TLS1.2"
#define PRIO13 "NORMAL:-VERS-ALL:+VERS-TLS1.3"

/* ---- child processes ---------------------------------------------------- */

struct child {
	pid_t pid;                  /* also the process group id; 0 when none */
	int in, out;                /* our ends of its stdin/stdout, or -1 */
};

static struct child kids[4];

static const char *tool_path(const char *name)
{
	static char buf[2][256];
	static int next;
	static const char *const dirs[] = { "/usr/bin", "/usr/local/bin", "/bin" };
	char *b = buf[next++ % 2];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(b, sizeof(buf[0]), "%s/%s", dirs[i], name);
		if (access(b, X_OK) == 0)
			return b;
	}
	return NULL;
}

/* Starts argv in a new process group; pipes for stdin/stdout when asked,
 * stderr (and stdout when not piped) into log. */
static struct child *spawn(char *const argv[], int pipe_io, const char *log)
{
	struct child *k = NULL;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };

	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]) && !k; i++)
		if (!kids[i].pid)
			k = &kids[i];
	assert_non_null(k);
	if (pipe_io) {
		assert_int_equal(pipe2(in, O_CLOEXEC), 0);
		assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	}
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		setpgid(0, 0);
		dup2(pipe_io ? in[0] : open("/dev/null", O_RDONLY), 0);
		dup2(pipe_io ? out[1] : lfd, 1);
		dup2(lfd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	setpgid(k->pid, k->pid); /* also here: no window where it has none */
	k->in = in[1];
	k->out = out[0];
	if (pipe_io) {
		close(in[0]);
		close(out[1]);
	}
	return k;
}

/* Waits up to ms for the child to exit; returns its wait status or -1. */
static int reap(struct child *k, int ms)
{
	int st;

	for (int waited = 0; waited <= ms; waited += 10) {
		pid_t r = waitpid(k->pid, &st, WNOHANG);

		if (r == k->pid) {
			k->pid = 0;
			return st;
		}
		usleep(10000);
	}
	return -1;
}

static void kill_child(struct child *k)
{
	if (k->pid > 0) {
		kill(-k->pid, SIGKILL);
		waitpid(k->pid, NULL, 0);
		k->pid = 0;
	}
	if (k->in >= 0)
		close(k->in);
	if (k->out >= 0)
		close(k->out);
	k->in = k->out = -1;
}

static const char *log_path(const char *what)
{
	static char buf[2][128];
	static int next;
	char *b = buf[next++ % 2];

	snprintf(b, sizeof(buf[0]), "/tmp/ktl-interop-%d-%s.log", (int)getpid(), what);
	return b;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		kill_child(&kids[i]);
	unlink(log_path("serv"));
	unlink(log_path("cli"));
	unlink(log_path("cli-stderr"));
	return 0;
}

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		kids[i] = (struct child){ 0, -1, -1 };
	if (!tool_path("gnutls-serv") || !tool_path("gnutls-cli")) {
		print_message("skip: gnutls-serv/gnutls-cli not installed (Debian package gnutls-bin)\n");
		skip();
	}
	return 0;
}

/* The last lines of a log, for failure messages. */
static const char *log_tail(const char *path)
{
	static char buf[1024];
	FILE *f = fopen(path, "r");
	long n;

	buf[0] = '\0';
	if (!f)
		return buf;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, n > (long)sizeof(buf) - 1 ? n - (long)sizeof(buf) + 1 : 0, SEEK_SET);
	n = (long)fread(buf, 1, sizeof(buf) - 1, f);
	buf[n > 0 ? n : 0] = '\0';
	fclose(f);
	return buf;
}

/* A port that was free a moment ago. */
static uint16_t free_port(void)
{
	uint16_t port;
	int fd = tu_listen(&port);

	close(fd);
	return port;
}

static void wait_listening(struct child *k, uint16_t port, const char *log)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(port) };

	for (int i = 0; i < 1000; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

		close(fd);
		if (ok)
			return;
		if (waitpid(k->pid, NULL, WNOHANG) == k->pid) {
			k->pid = 0;
			fail_msg("gnutls-serv exited: %s", log_tail(log));
		}
		usleep(10000);
	}
	fail_msg("gnutls-serv not listening on %u after 10 s: %s", port, log_tail(log));
}

/* Reads exactly len bytes from fd within ms. */
static size_t read_full(int fd, uint8_t *buf, size_t len, int ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, ms) <= 0)
			break;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* ---- ktlink client, gnutls-serv server ---------------------------------- */

#define ECHO_CHUNK 4000
#define ECHO_ROUNDS 64

/* gnutls-serv --echo works on C strings and answers once a line is
 * complete: each chunk is one line of printable bytes, no NUL, no CR. */
static void fill_line(uint8_t *buf, size_t len, uint64_t offset)
{
	tu_fill(buf, len, offset, 7);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)('!' + buf[i] % 94);
	buf[len - 1] = '\n';
}

static void client_vs_gnutls_serv(unsigned proto, const char *prio, const char *want_proto)
{
	char port_s[8], cafile[512], crt[512], key[512], prio_opt[128];
	const char *log = log_path("serv");
	uint16_t port = free_port();
	struct ktl_config *cfg = tu_config(CLI_DIR);
	struct ktl_conn *c = NULL;
	struct ktl_info info;
	uint8_t *buf = malloc(ECHO_CHUNK), want[ECHO_CHUNK];
	struct child *k;

	snprintf(port_s, sizeof(port_s), "%u", port);
	snprintf(cafile, sizeof(cafile), "--x509cafile=%s/ca.crt", tu_fixture(SRV_DIR));
	snprintf(crt, sizeof(crt), "--x509certfile=%s/node.crt", tu_fixture(SRV_DIR));
	snprintf(key, sizeof(key), "--x509keyfile=%s/node.key", tu_fixture(SRV_DIR));
	snprintf(prio_opt, sizeof(prio_opt), "--priority=%s", prio);
	{
		/* --crlf: echo bytes as they are (the default turns CRLF into LF). */
		char *argv[] = { (char *)tool_path("gnutls-serv"), cafile, crt, key, "--require-client-cert",
				 "--verify-client-cert", "--echo", "--crlf", "--noticket", prio_opt, "-p",
				 port_s, NULL };

		k = spawn(argv, 0, log);
	}
	wait_listening(k, port, log);

	assert_int_equal(ktl_config_restrict(cfg, proto, 0), 0);
	if (ktl_connect(&c, cfg, "127.0.0.1", port_s) != 0)
		fail_msg("connect: %s; gnutls-serv: %s", ktl_last_error(), log_tail(log));
	assert_int_equal(ktl_get_info(c, &info), 0);
	assert_string_equal(info.protocol, want_proto);
	assert_non_null(strstr(info.peer_subject, "CN=node0"));

	/* One record out, the same record back, checked byte for byte. */
	for (int i = 0; i < ECHO_ROUNDS; i++) {
		size_t got = 0;

		fill_line(buf, ECHO_CHUNK, (uint64_t)i * ECHO_CHUNK);
		assert_int_equal(ktl_send(c, buf, ECHO_CHUNK), ECHO_CHUNK);
		memset(buf, 0, ECHO_CHUNK);
		while (got < ECHO_CHUNK) {
			ssize_t n = ktl_recv(c, buf + got, ECHO_CHUNK - got);

			if (n <= 0)
				fail_msg("recv %zd after %zu bytes of round %d: %s", n, got, i, ktl_last_error());
			got += (size_t)n;
		}
		fill_line(want, ECHO_CHUNK, (uint64_t)i * ECHO_CHUNK);
		if (memcmp(buf, want, ECHO_CHUNK) != 0)
			fail_msg("round %d: echo differs from what was sent", i);
	}
	assert_int_equal(ktl_close(c), 0);
	kill_child(k);
	ktl_config_free(cfg);
	free(buf);
	unlink(log);
}

static void test_gnutls_serv_tls13(void **state)
{
	(void)state;
	client_vs_gnutls_serv(KTL_TLS13, PRIO13, "TLS1.3");
}

static void test_gnutls_serv_tls12(void **state)
{
	(void)state;
	client_vs_gnutls_serv(KTL_TLS12, PRIO12, "TLS1.2");
}

/* gnutls-serv with a chain from another root: ktlink refuses it with the
 * reason, and gnutls-serv keeps running (it is killed by the test). */
static void test_gnutls_serv_wrong_root(void **state)
{
	(void)state;
	char port_s[8], cafile[512], crt[512], key[512];
	const char *log = log_path("serv");
	uint16_t port = free_port();
	struct ktl_config *cfg = tu_config(CLI_DIR);
	struct ktl_conn *c = NULL;
	struct child *k;

	snprintf(port_s, sizeof(port_s), "%u", port);
	snprintf(cafile, sizeof(cafile), "--x509cafile=%s/ca.crt", tu_fixture(SRV_DIR));
	snprintf(crt, sizeof(crt), "--x509certfile=%s/node.crt", tu_fixture("other-root/agency0/node0"));
	snprintf(key, sizeof(key), "--x509keyfile=%s/node.key", tu_fixture("other-root/agency0/node0"));
	{
		char *argv[] = { (char *)tool_path("gnutls-serv"), cafile, crt, key, "--require-client-cert",
				 "--verify-client-cert", "--echo", "--crlf", "-p", port_s, NULL };

		k = spawn(argv, 0, log);
	}
	wait_listening(k, port, log);
	assert_int_equal(ktl_connect(&c, cfg, "127.0.0.1", port_s), -KTL_E_CERT_UNKNOWN_ISSUER);
	assert_null(c);
	assert_non_null(strstr(ktl_last_error(), "agency certificate 'OU=ktlink,O=agency0,CN=agency0' was "
						 "issued by another root that is also named 'CN=ktlink-root' "
						 "(different key), not by the trusted root in "));
	kill_child(k);
	ktl_config_free(cfg);
	unlink(log);
}

/* ---- gnutls-cli client, ktlink server ----------------------------------- */

#define CLI_BYTES (256u << 10)

/* Reads CLI_BYTES of seed 1, answers with CLI_BYTES of seed 2, then waits
 * for the client's close_notify. */
static void cli_server_fn(struct tu_peer *p, struct ktl_conn *c)
{
	uint8_t *buf = malloc(CLI_BYTES);
	size_t got = 0;
	long bad;

	p->fn_rc = -1;
	while (got < CLI_BYTES) {
		ssize_t n = ktl_recv(c, buf + got, CLI_BYTES - got);

		if (n <= 0) {
			snprintf(p->err, sizeof(p->err), "server recv %zd after %zu: %s", n, got, ktl_last_error());
			goto out;
		}
		got += (size_t)n;
	}
	if ((bad = tu_check(buf, CLI_BYTES, 0, 1)) != -1) {
		snprintf(p->err, sizeof(p->err), "server: data from gnutls-cli differs at byte %ld", bad);
		goto out;
	}
	tu_fill(buf, CLI_BYTES, 0, 2);
	if (ktl_send(c, buf, CLI_BYTES) != (ssize_t)CLI_BYTES) {
		snprintf(p->err, sizeof(p->err), "server send: %s", ktl_last_error());
		goto out;
	}
	if (ktl_recv(c, buf, 1) != 0) {
		snprintf(p->err, sizeof(p->err), "server: no close_notify: %s", ktl_last_error());
		goto out;
	}
	p->fn_rc = 0;
out:
	free(buf);
}

/* Accepts one connection within 10 s. */
static int accept_within(int lfd, struct child *k, const char *log)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd;

	if (poll(&p, 1, 10000) != 1)
		fail_msg("gnutls-cli did not connect: %s", log_tail(log));
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	(void)k;
	return fd;
}

/* gnutls-cli verifies our chain against ca.crt, and the host name: the
 * node certificates have no subjectAltName, so GnuTLS matches the name
 * against the CN, and --verify-hostname=node0 names the server's CN (we
 * connect to 127.0.0.1, which is not in the certificate).  Nothing is
 * turned off: no --insecure, no --no-ca-verification. */
static struct child *spawn_cli(uint16_t port, const char *prio, int with_cert, const char *log)
{
	char port_s[8], cafile[512], crt[512], key[512], prio_opt[128], logopt[160];

	snprintf(port_s, sizeof(port_s), "%u", port);
	snprintf(cafile, sizeof(cafile), "--x509cafile=%s/ca.crt", tu_fixture(CLI_DIR));
	snprintf(crt, sizeof(crt), "--x509certfile=%s/node.crt", tu_fixture(CLI_DIR));
	snprintf(key, sizeof(key), "--x509keyfile=%s/node.key", tu_fixture(CLI_DIR));
	snprintf(prio_opt, sizeof(prio_opt), "--priority=%s", prio);
	snprintf(logopt, sizeof(logopt), "--logfile=%s", log);
	char *argv[12] = { (char *)tool_path("gnutls-cli"), cafile, "--verify-hostname=node0", prio_opt,
			   logopt, "-p", port_s };
	int n = 7;

	if (with_cert) {
		argv[n++] = crt;
		argv[n++] = key;
	}
	argv[n++] = "127.0.0.1";
	argv[n] = NULL;
	/* --logfile takes the informational lines; stderr has its own log. */
	return spawn(argv, 1, log_path("cli-stderr"));
}

static void gnutls_cli_vs_server(unsigned proto, const char *prio, const char *want_proto)
{
	const char *log = log_path("cli");
	uint16_t port;
	int lfd = tu_listen(&port);
	struct ktl_config *cfg = tu_config(SRV_DIR);
	struct tu_peer srv = { .cfg = cfg, .role = KTL_SERVER, .fn = cli_server_fn };
	uint8_t *buf = malloc(CLI_BYTES);
	struct child *k;
	size_t got;
	int st;

	assert_int_equal(ktl_config_restrict(cfg, proto, 0), 0);
	k = spawn_cli(port, prio, 1, log);
	srv.fd = accept_within(lfd, k, log);
	close(lfd);
	tu_peer_start(&srv);

	/* Our bytes go in through gnutls-cli's stdin ... */
	tu_fill(buf, CLI_BYTES, 0, 1);
	for (size_t done = 0; done < CLI_BYTES;) {
		ssize_t n = write(k->in, buf + done, CLI_BYTES - done);

		if (n <= 0)
			fail_msg("writing to gnutls-cli: %s; log: %s", strerror(errno), log_tail(log));
		done += (size_t)n;
	}
	/* ... and the server's answer comes out of its stdout. */
	memset(buf, 0, CLI_BYTES);
	got = read_full(k->out, buf, CLI_BYTES, 10000);
	if (got != CLI_BYTES)
		fail_msg("gnutls-cli printed %zu of %u bytes; log: %s", got, CLI_BYTES, log_tail(log));
	if (tu_check(buf, CLI_BYTES, 0, 2) != -1)
		fail_msg("gnutls-cli output differs at byte %ld", tu_check(buf, CLI_BYTES, 0, 2));
	/* End of stdin: gnutls-cli sends close_notify, the server closes. */
	close(k->in);
	k->in = -1;
	tu_peer_join(&srv);
	if (srv.rc != 0 || srv.fn_rc != 0)
		fail_msg("server rc=%d fn=%d: %s; gnutls-cli: %s", srv.rc, srv.fn_rc, srv.err, log_tail(log));
	st = reap(k, 10000);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("gnutls-cli status %d; log: %s", st, log_tail(log));
	{
		/* The version gnutls-cli reports is the one asked for. */
		FILE *f = fopen(log, "r");
		char line[256];
		int seen = 0;

		assert_non_null(f);
		/* "- Description: (TLS1.3-X.509)-(ECDHE-X25519)-..." */
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "- Description: (", 16) == 0 && strncmp(line + 16, want_proto, strlen(want_proto)) == 0)
				seen = 1;
		fclose(f);
		if (!seen)
			fail_msg("gnutls-cli log does not name %s", want_proto);
	}
	kill_child(k);
	ktl_config_free(cfg);
	free(buf);
	unlink(log);
	unlink(log_path("cli-stderr"));
}

static void test_gnutls_cli_tls13(void **state)
{
	(void)state;
	gnutls_cli_vs_server(KTL_TLS13, PRIO13, "TLS1.3");
}

static void test_gnutls_cli_tls12(void **state)
{
	(void)state;
	gnutls_cli_vs_server(KTL_TLS12, PRIO12, "TLS1.2");
}

/* gnutls-cli without a client certificate: the ktlink server refuses it
 * before any data, and gnutls-cli fails. */
static void cli_without_cert(const char *prio)
{
	const char *log = log_path("cli");
	uint16_t port;
	int lfd = tu_listen(&port);
	struct ktl_config *cfg = tu_config(SRV_DIR);
	struct tu_peer srv = { .cfg = cfg, .role = KTL_SERVER, .fn = cli_server_fn };
	static const char line[] = "must never arrive\n";
	struct child *k;
	uint8_t buf[64];
	int st;

	k = spawn_cli(port, prio, 0, log);
	srv.fd = accept_within(lfd, k, log);
	close(lfd);
	tu_peer_start(&srv);
	/* Data on stdin; gnutls-cli sends it once its handshake is done. */
	assert_int_equal(write(k->in, line, sizeof(line) - 1), (ssize_t)sizeof(line) - 1);
	tu_peer_join(&srv);
	if (srv.rc != -KTL_E_NO_PEER_CERT)
		fail_msg("server rc %d (%s): %s", srv.rc, ktl_strerror(srv.rc), srv.err);
	assert_non_null(strstr(srv.err, "sent no certificate"));
	assert_int_equal(srv.fn_rc, 0); /* fn never ran */
	close(k->in);
	k->in = -1;
	/* gnutls-cli gets the alert and exits non-zero, printing nothing. */
	st = reap(k, 10000);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 0)
		fail_msg("gnutls-cli status %d; log: %s", st, log_tail(log));
	assert_int_equal(read_full(k->out, buf, sizeof(buf), 100), 0);
	kill_child(k);
	ktl_config_free(cfg);
	unlink(log);
	unlink(log_path("cli-stderr"));
}

static void test_gnutls_cli_no_cert_tls13(void **state)
{
	(void)state;
	cli_without_cert(PRIO13);
}

static void test_gnutls_cli_no_cert_tls12(void **state)
{
	(void)state;
	cli_without_cert(PRIO12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gnutls_serv_tls13, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gnutls_serv_tls12, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gnutls_serv_wrong_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gnutls_cli_tls13, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gnutls_cli_tls12, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gnutls_cli_no_cert_tls13, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gnutls_cli_no_cert_tls12, setup, teardown),
	};

	/* A tool that dies must not kill us with SIGPIPE on its stdin. */
	signal(SIGPIPE, SIG_IGN);
	if (getenv("KTL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("KTL_TEST_FILTER"));
	return cmocka_run_group_tests_name("interop", tests, NULL, NULL);
}
