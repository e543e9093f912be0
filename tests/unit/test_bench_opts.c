/* SPDX-License-Identifier: MIT */
/* bench/opts.c: `ktlink bench` option parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* The bench modules are not in libktlink; build the one under test in. */
#include "../../bench/opts.c"

#define ALL_PATHS ((1u << BP_COUNT) - 1)

static int parse(struct bench_opts *o, const char *const *args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = "bench";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	return bench_parse_args(o, argc, argv);
}

static void test_defaults(void **state)
{
	struct bench_opts o;
	const char *a[] = { NULL };

	assert_int_equal(parse(&o, a), 0);
	assert_int_equal(o.paths, ALL_PATHS);
	assert_true(o.time_s == 3);
	assert_int_equal(o.n_sizes, 1);
	assert_int_equal(o.sizes[0], 16384);
	assert_int_equal(o.links, 1);
	assert_int_equal(o.tls13, 1);
	assert_int_equal(o.cipher, CIPHER_AES128GCM);
	assert_int_equal(o.direction, DIR_ONE_WAY);
	assert_int_equal(o.repeat, 1);
	assert_true(o.interval_s == 1);
	assert_null(o.json);
	assert_false(o.handshakes);
	assert_int_equal(o.scale, 0);
	assert_false(o.help);
}

static void test_sizes(void **state)
{
	size_t v;

	assert_int_equal(bench_parse_size("16384", &v), 0);
	assert_int_equal(v, 16384);
	assert_int_equal(bench_parse_size("16k", &v), 0);
	assert_int_equal(v, 16384);
	assert_int_equal(bench_parse_size("1m", &v), 0);
	assert_int_equal(v, 1 << 20);
	assert_int_equal(bench_parse_size("2KiB", &v), 0);
	assert_int_equal(v, 2048);
	assert_int_equal(bench_parse_size("0", &v), -1);
	assert_int_equal(bench_parse_size("-1", &v), -1);
	assert_int_equal(bench_parse_size("12q", &v), -1);
	assert_int_equal(bench_parse_size("", &v), -1);
	assert_int_equal(bench_parse_size("k", &v), -1);
}

static void test_everything_set(void **state)
{
	struct bench_opts o;
	const char *a[] = { "--paths", "tcp,gnutls,uring", "--time", "0.5", "--size", "64k", "--links", "2",
			    "--tls", "1.2", "--cipher", "chacha20", "--direction", "both", "--repeat", "3",
			    "--json", "/tmp/ktlink-opts-test.json", "--plot", "/tmp/ktlink-opts-test.png", "--handshakes", "--scale", "1000",
			    "--certs", "/tmp/c", "--interval", "0.25", NULL };

	assert_int_equal(parse(&o, a), 0);
	assert_int_equal(o.paths, (1u << BP_TCP) | (1u << BP_GNUTLS) | (1u << BP_URING));
	assert_true(o.time_s == 0.5);
	assert_int_equal(o.sizes[0], 65536);
	assert_int_equal(o.links, 2);
	assert_int_equal(o.tls13, 0);
	assert_int_equal(o.cipher, CIPHER_CHACHA20);
	assert_int_equal(o.direction, DIR_BOTH);
	assert_int_equal(o.repeat, 3);
	assert_string_equal(o.json, "/tmp/ktlink-opts-test.json");
	assert_string_equal(o.plot, "/tmp/ktlink-opts-test.png");
	/* Checked by trying, and not left behind. */
	assert_int_equal(access(o.json, F_OK), -1);
	assert_true(o.handshakes);
	assert_int_equal(o.scale, 1000);
	assert_string_equal(o.certs, "/tmp/c");
	assert_true(o.interval_s == 0.25);
}

static void test_sweep_forms(void **state)
{
	struct bench_opts o;
	const char *a1[] = { "--sweep", NULL };
	const char *a2[] = { "--sweep=1k,1m", NULL };
	const char *a3[] = { "--sweep", "4k,16k,256k", "--time", "1", NULL };

	assert_int_equal(parse(&o, a1), 0);
	assert_int_equal(o.n_sizes, 5);
	assert_int_equal(o.sizes[0], 1024);
	assert_int_equal(o.sizes[4], 262144);
	assert_int_equal(parse(&o, a2), 0);
	assert_int_equal(o.n_sizes, 2);
	assert_int_equal(o.sizes[1], 1 << 20);
	assert_int_equal(parse(&o, a3), 0);
	assert_int_equal(o.n_sizes, 3);
	assert_int_equal(o.sizes[2], 262144);
	assert_true(o.time_s == 1);
}

static void test_paths(void **state)
{
	unsigned m;
	const char *bad = NULL;

	assert_int_equal(bench_parse_paths("all", &m, &bad), 0);
	assert_int_equal(m, ALL_PATHS);
	assert_int_equal(bench_parse_paths("ktls-sendfile,ktls", &m, &bad), 0);
	assert_int_equal(m, (1u << BP_KTLS_SENDFILE) | (1u << BP_KTLS));
	assert_int_equal(bench_parse_paths("tcp,quic", &m, &bad), -1);
	assert_string_equal(bad, "quic");
	assert_int_equal(bench_parse_paths("ktls-", &m, &bad), -1);
	assert_int_equal(bench_parse_paths("tcp,", &m, &bad), -1);
	assert_string_equal(bad, "");
}

static void test_usage_errors(void **state)
{
	struct bench_opts o;
	const char *bad[][5] = {
		{ "--paths", "nope", NULL },   { "--time", "0", NULL },
		{ "--time", "abc", NULL },     { "--size", "0", NULL },
		{ "--size", "1g", NULL },      { "--links", "0", NULL },
		{ "--tls", "1.1", NULL },      { "--cipher", "rc4", NULL },
		{ "--direction", "up", NULL }, { "--repeat", "0", NULL },
		{ "--scale", "-3", NULL },     { "--bogus", NULL },
		{ "stray", NULL },             { "--size", "4k", "--sweep", NULL },
		{ "--time", NULL },
		{ "--paths", "tcp,", NULL },   { "--paths", ",tcp", NULL },
		{ "--paths", "tcp,,uring", NULL }, { "--size", " 5", NULL },
		{ "--links", " 2", NULL },     { "--time", " 1", NULL },
		{ "--time", "1e9", NULL },     { "--sweep=1k,1k", NULL },
		{ "--sweep=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", NULL },
		{ "--handshakes=1", NULL },    { "--help=1", NULL },
		{ "--certs", "", NULL },       { "--json", "", NULL },
		{ "--json", "/", NULL },       { "--json", "/nonexistent-dir/x.json", NULL },
		{ "--plot", "/tmp", NULL },    { "--plot", "x.svg", NULL },
		{ "--sweep=1k,,4k", NULL },    { "--sweep=1k,", NULL },
		{ "--json", "/tmp/ktl-same.png", "--plot", "/tmp/./ktl-same.png", NULL },
		{ "--json", "/tmp/ktl-same.png.gp", "--plot", "/tmp/ktl-same.png", NULL },
		{ "--plot", "/tmp/ktl-x.png", "--interval", "0", NULL },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(&o, bad[i]);

		if (rc != 2)
			fail_msg("argument set %zu (%s) was accepted", i, bad[i][0]);
	}
}

static void test_help(void **state)
{
	struct bench_opts o;
	const char *a[] = { "--time", "2", "--help", NULL };

	assert_int_equal(parse(&o, a), 0);
	assert_true(o.help);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),       cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_everything_set), cmocka_unit_test(test_sweep_forms),
		cmocka_unit_test(test_paths),          cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help),
	};

	return cmocka_run_group_tests_name("bench_opts", tests, NULL, NULL);
}
