/* SPDX-License-Identifier: MIT */
/* bench/pattern.c: the benchmark's data stream and its checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The bench modules are not in libktlink; build the one under test in. */
#include "../../bench/pattern.c"

static void test_roundtrip_any_alignment(void **state)
{
	uint8_t buf[3000];
	uint64_t seed = pattern_seed(7);

	for (uint64_t off = 0; off < 24; off++)
		for (size_t len = 0; len < 1100; len += 37) {
			pattern_fill(buf, len, off, seed);
			assert_int_equal(pattern_check(buf, len, off, seed), -1);
		}
	/* Chunked fills equal one fill: the stream depends only on offset. */
	{
		uint8_t whole[2048], parts[2048];

		pattern_fill(whole, sizeof(whole), 1000, seed);
		pattern_fill(parts, 3, 1000, seed);
		pattern_fill(parts + 3, 1000, 1003, seed);
		pattern_fill(parts + 1003, 1045, 2003, seed);
		assert_memory_equal(whole, parts, sizeof(whole));
	}
}

static void test_flipped_byte_found_at_its_offset(void **state)
{
	size_t len = 5000;
	uint8_t *buf = malloc(len);
	uint64_t seed = pattern_seed(1), base = 12345; /* not a multiple of 8 */

	assert_non_null(buf);
	for (size_t at = 0; at < len; at += (at < 1100 ? 1 : 97)) {
		pattern_fill(buf, len, base, seed);
		buf[at] ^= 0x01;
		assert_int_equal(pattern_check(buf, len, base, seed), (long)at);
	}
	/* The first of two errors is the one reported. */
	pattern_fill(buf, len, base, seed);
	buf[4000] ^= 0x80;
	buf[600] ^= 0x10;
	assert_int_equal(pattern_check(buf, len, base, seed), 600);
	free(buf);
}

static void test_shifted_or_foreign_data_detected(void **state)
{
	uint8_t buf[4096];

	/* The right bytes at the wrong offset. */
	pattern_fill(buf, sizeof(buf), 4096 * 3, pattern_seed(0));
	assert_true(pattern_check(buf, sizeof(buf), 4096 * 2, pattern_seed(0)) >= 0);
	pattern_fill(buf, sizeof(buf), 1, pattern_seed(0));
	assert_int_equal(pattern_check(buf, sizeof(buf), 0, pattern_seed(0)), 0);
	/* Another stream's bytes (the other direction of a link). */
	pattern_fill(buf, sizeof(buf), 0, pattern_seed(1));
	assert_int_equal(pattern_check(buf, sizeof(buf), 0, pattern_seed(0)), 0);
	/* Zeros, as a truncated read might leave. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pattern_check(buf, sizeof(buf), 0, pattern_seed(0)), 0);
}

static void test_seeds_differ(void **state)
{
	assert_true(pattern_seed(0) != pattern_seed(1));
	assert_true(pattern_seed(1) != pattern_seed(2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_any_alignment),
		cmocka_unit_test(test_flipped_byte_found_at_its_offset),
		cmocka_unit_test(test_shifted_or_foreign_data_detected),
		cmocka_unit_test(test_seeds_differ),
	};

	return cmocka_run_group_tests_name("bench_pattern", tests, NULL, NULL);
}
