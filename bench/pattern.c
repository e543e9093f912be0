/* SPDX-License-Identifier: MIT */
/* Making and checking the benchmark's data stream (see pattern.h). */
#include <string.h>

#include "pattern.h"

uint64_t pattern_seed(uint64_t stream)
{
	/* splitmix64: distinct streams start far apart. */
	uint64_t z = stream * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Two words per step in SSE2's 128-bit registers (the x86-64 baseline):
 * twice the scalar speed at -O2, which does not vectorise these loops. */
typedef uint64_t v2u64 __attribute__((vector_size(16)));

static inline uint64_t word_at(uint64_t seed, uint64_t idx)
{
	return seed + idx * PATTERN_STEP;
}

static inline uint8_t byte_at(uint64_t seed, uint64_t off)
{
	return (uint8_t)(word_at(seed, off / 8) >> (8 * (off % 8)));
}

void pattern_fill(void *buf, size_t len, uint64_t offset, uint64_t seed)
{
	uint8_t *p = buf;
	size_t i = 0;
	uint64_t w;

	for (; i < len && (offset + i) % 8; i++)
		p[i] = byte_at(seed, offset + i);
	w = word_at(seed, (offset + i) / 8);
	if (i + 16 <= len) {
		v2u64 wv = { w, w + PATTERN_STEP }, step = { 2 * PATTERN_STEP, 2 * PATTERN_STEP };

		for (; i + 16 <= len; i += 16) {
			memcpy(p + i, &wv, 16); /* little-endian hosts only, like kTLS */
			wv += step;
		}
		w = wv[0];
	}
	for (; i + 8 <= len; i += 8) {
		memcpy(p + i, &w, 8);
		w += PATTERN_STEP;
	}
	for (; i < len; i++)
		p[i] = byte_at(seed, offset + i);
}

static long first_bad_byte(const uint8_t *p, size_t from, size_t to, uint64_t offset, uint64_t seed)
{
	for (size_t i = from; i < to; i++)
		if (p[i] != byte_at(seed, offset + i))
			return (long)i;
	return -1;
}

long pattern_check(const void *buf, size_t len, uint64_t offset, uint64_t seed)
{
	const uint8_t *p = buf;
	size_t i = 0;
	uint64_t w;

	for (; i < len && (offset + i) % 8; i++)
		if (p[i] != byte_at(seed, offset + i))
			return (long)i;
	w = word_at(seed, (offset + i) / 8);
	/* Blocks of 512 bytes: OR the differences without branching, and
	 * look for the byte only in a block that has one. */
	while (i + 512 <= len) {
		v2u64 wv = { w, w + PATTERN_STEP }, step = { 2 * PATTERN_STEP, 2 * PATTERN_STEP };
		v2u64 diff = { 0, 0 }, v;

		for (size_t j = 0; j < 512; j += 16) {
			memcpy(&v, p + i + j, 16);
			diff |= v ^ wv;
			wv += step;
		}
		if (diff[0] | diff[1])
			return first_bad_byte(p, i, i + 512, offset, seed);
		w += 64 * PATTERN_STEP;
		i += 512;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		if (v != w)
			return first_bad_byte(p, i, i + 8, offset, seed);
		w += PATTERN_STEP;
	}
	return first_bad_byte(p, i, len, offset, seed);
}
