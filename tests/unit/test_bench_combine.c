/* SPDX-License-Identifier: MIT */
/* bench/combine.c: folding --repeat rounds, medians and paired ratios. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* The bench modules are not in libktlink; build the one under test in. */
#include "../../bench/combine.c"

static struct bench_result ok_run(double gbit, uint64_t bytes, double cpu_c, double cpu_s)
{
	struct bench_result r = { .id = BP_GNUTLS, .size = 16384, .available = true };

	r.gbit_s = gbit;
	r.mb_s = gbit * 125;
	r.bytes = r.verified = bytes;
	r.seconds = 2;
	r.cpu_client = cpu_c;
	r.cpu_server = cpu_s;
	r.ratio_tcp = r.ratio_openssl = -1;
	snprintf(r.detail, sizeof(r.detail), "TLS1.3 AES-128-GCM");
	return r;
}

static void test_median(void **state)
{
	(void)state;
	const double odd[] = { 9, 1, 5 }, even[] = { 4, 1, 3, 2 }, one[] = { 7.5 };

	assert_true(bench_median(odd, 3) == 5);
	assert_true(bench_median(even, 4) == 2.5);
	assert_true(bench_median(one, 1) == 7.5);
	assert_true(bench_median(odd, 0) == -1);
	/* The input is left as it was. */
	assert_true(odd[0] == 9 && odd[1] == 1 && odd[2] == 5);
}

static void test_combine_takes_the_median_run(void **state)
{
	(void)state;
	struct bench_result runs[3] = { ok_run(10, 100, 2.0, 1.0), ok_run(2, 20, 1.0, 3.0), ok_run(8, 80, 3.0, 2.0) };
	struct bench_result out;

	bench_combine(runs, 3, &out);
	assert_true(out.available);
	assert_false(out.failed);
	assert_int_equal(out.runs, 3);
	assert_true(out.gbit_s == 8);       /* median, not the mean (6.67) */
	assert_true(out.mb_s == 1000);
	assert_true(out.gbit_min == 2 && out.gbit_max == 10);
	assert_int_equal(out.bytes, 200);   /* every byte of every round counts */
	assert_int_equal(out.verified, 200);
	assert_true(out.seconds == 6);
	assert_true(out.cpu_client == 2.0 && out.cpu_server == 2.0); /* per run */
	assert_string_equal(out.detail, "TLS1.3 AES-128-GCM");
}

static void test_combine_single_run_is_unchanged(void **state)
{
	(void)state;
	struct bench_result run = ok_run(3.5, 42, 0.5, 0.25), out;

	bench_combine(&run, 1, &out);
	assert_int_equal(out.runs, 1);
	assert_true(out.gbit_s == 3.5 && out.gbit_min == 3.5 && out.gbit_max == 3.5);
	assert_int_equal(out.bytes, 42);
	assert_true(out.cpu_client == 0.5 && out.cpu_server == 0.25);
}

static void test_combine_failure_wins(void **state)
{
	(void)state;
	struct bench_result runs[3] = { ok_run(10, 100, 1, 1), ok_run(9, 90, 1, 1), ok_run(8, 80, 1, 1) };
	struct bench_result out;

	runs[1].failed = true;
	snprintf(runs[1].reason, sizeof(runs[1].reason), "server: data mismatch at stream offset 7");
	runs[2].failed = true;
	snprintf(runs[2].reason, sizeof(runs[2].reason), "later");
	bench_combine(runs, 3, &out);
	assert_true(out.failed);
	assert_string_equal(out.reason, "server: data mismatch at stream offset 7");
}

static void test_combine_unavailable(void **state)
{
	(void)state;
	struct bench_result run = { .id = BP_KTLS }, out;

	snprintf(run.reason, sizeof(run.reason), "kernel has no kTLS");
	bench_combine(&run, 1, &out);
	assert_false(out.available);
	assert_false(out.failed);
	assert_string_equal(out.reason, "kernel has no kTLS");
}

static void test_paired_ratio(void **state)
{
	(void)state;
	/* tcp slows down in round 2; the path slows with it.  Pairing keeps
	 * the ratio at 0.6; dividing the medians would give 8/10 = 0.8. */
	struct bench_result tcp[3] = { ok_run(10, 1, 1, 1), ok_run(5, 1, 1, 1), ok_run(20, 1, 1, 1) };
	struct bench_result path[3] = { ok_run(6, 1, 1, 1), ok_run(3, 1, 1, 1), ok_run(8, 1, 1, 1) };
	double r = bench_paired_ratio(path, tcp, 3);

	assert_true(r > 0.5999 && r < 0.6001);
	assert_true(bench_paired_ratio(tcp, tcp, 3) == 1);
}

static void test_paired_ratio_needs_every_round(void **state)
{
	(void)state;
	struct bench_result tcp[2] = { ok_run(10, 1, 1, 1), ok_run(10, 1, 1, 1) };
	struct bench_result path[2] = { ok_run(6, 1, 1, 1), ok_run(3, 1, 1, 1) };

	tcp[1].failed = true;
	assert_true(bench_paired_ratio(path, tcp, 2) == -1);
	tcp[1].failed = false;
	tcp[1].gbit_s = 0;
	assert_true(bench_paired_ratio(path, tcp, 2) == -1);
	tcp[1].gbit_s = 10;
	path[0].available = false;
	assert_true(bench_paired_ratio(path, tcp, 2) == -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_median),
		cmocka_unit_test(test_combine_takes_the_median_run),
		cmocka_unit_test(test_combine_single_run_is_unchanged),
		cmocka_unit_test(test_combine_failure_wins),
		cmocka_unit_test(test_combine_unavailable),
		cmocka_unit_test(test_paired_ratio),
		cmocka_unit_test(test_paired_ratio_needs_every_round),
	};

	return cmocka_run_group_tests_name("bench_combine", tests, NULL, NULL);
}
