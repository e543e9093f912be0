/* SPDX-License-Identifier: MIT */
/* Folding the runs of a --repeat into one result.  cmd_bench.c runs the
 * repeats in rounds (every path once, then every path again), so a slow
 * spell of this shared host falls on all paths of a round alike.  The
 * median run stands for a path, and a ratio between two paths is the
 * median of their ratios within each round: one slow tcp run then moves
 * no ratio, where a mean over unpaired runs would move them all. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(const double *v, unsigned n)
{
	double s[BENCH_MAX_REPEAT];

	if (n == 0)
		return -1;
	if (n > BENCH_MAX_REPEAT)
		n = BENCH_MAX_REPEAT;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static bool usable(const struct bench_result *r)
{
	return r->available && !r->failed;
}

void bench_combine(const struct bench_result *runs, unsigned n, struct bench_result *out)
{
	double g[BENCH_MAX_REPEAT];
	unsigned i;

	*out = runs[0];
	out->runs = 1;
	if (n > BENCH_MAX_REPEAT)
		n = BENCH_MAX_REPEAT;
	for (i = 0; i < n; i++) {
		if (!usable(&runs[i])) {
			/* The whole path is as good as its worst run: a failure
			 * anywhere is reported, with that run's reason. */
			out->available = runs[i].available;
			out->failed = runs[i].failed;
			memcpy(out->reason, runs[i].reason, sizeof(out->reason));
			return;
		}
	}
	out->bytes = out->verified = 0;
	out->seconds = out->cpu_client = out->cpu_server = 0;
	out->gbit_min = out->gbit_max = runs[0].gbit_s;
	for (i = 0; i < n; i++) {
		const struct bench_result *r = &runs[i];

		g[i] = r->gbit_s;
		out->bytes += r->bytes;
		out->verified += r->verified;
		out->seconds += r->seconds;
		out->cpu_client += r->cpu_client / n;
		out->cpu_server += r->cpu_server / n;
		if (r->gbit_s < out->gbit_min)
			out->gbit_min = r->gbit_s;
		if (r->gbit_s > out->gbit_max)
			out->gbit_max = r->gbit_s;
	}
	out->runs = n;
	out->gbit_s = bench_median(g, n);
	out->mb_s = out->gbit_s * 1e3 / 8;
}

double bench_paired_ratio(const struct bench_result *a, const struct bench_result *base, unsigned n)
{
	double q[BENCH_MAX_REPEAT];
	unsigned i, m = 0;

	if (n > BENCH_MAX_REPEAT)
		n = BENCH_MAX_REPEAT;
	for (i = 0; i < n; i++) {
		if (!usable(&a[i]) || !usable(&base[i]) || base[i].gbit_s <= 0)
			return -1; /* a ratio over some rounds only would not be paired */
		q[m++] = a[i].gbit_s / base[i].gbit_s;
	}
	return bench_median(q, m);
}
