/* SPDX-License-Identifier: MIT */
/* The data every path carries: a deterministic stream keyed by offset, so
 * the receiver can check each byte without knowing how the sender chunked
 * it.  64-bit word i of a stream is seed + i * PATTERN_STEP (little-endian);
 * both making and checking are one add per 8 bytes, which the compiler
 * vectorises, so checking costs far less than the TLS it checks. */
#ifndef KTL_BENCH_PATTERN_H
#define KTL_BENCH_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* Odd, so words never repeat within 2^64 words; bytes of neighbouring
 * words differ, so a shifted or reordered chunk shows. */
#define PATTERN_STEP 0x9e3779b97f4a7c15ull

/* A seed per stream (link and direction), from a small number. */
uint64_t pattern_seed(uint64_t stream);
/* Writes the stream's bytes [offset, offset + len) into buf. */
void pattern_fill(void *buf, size_t len, uint64_t offset, uint64_t seed);
/* Index into buf of the first byte that differs from the stream at
 * `offset`, or -1 when all len bytes match. */
long pattern_check(const void *buf, size_t len, uint64_t offset, uint64_t seed);

#endif
