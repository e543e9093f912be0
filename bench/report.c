/* SPDX-License-Identifier: MIT */
/* Text output in iperf3's style: a line per interval while a path runs,
 * then a table per message size. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

void bench_fmt_bytes(char *buf, size_t len, double bytes)
{
	/* iperf3: binary prefixes for bytes, decimal for bits per second. */
	if (bytes >= 1024.0 * 1024 * 1024)
		snprintf(buf, len, "%.2f GBytes", bytes / (1024.0 * 1024 * 1024));
	else if (bytes >= 1024.0 * 1024)
		snprintf(buf, len, "%.1f MBytes", bytes / (1024.0 * 1024));
	else
		snprintf(buf, len, "%.1f KBytes", bytes / 1024.0);
}

void bench_print_interval(const char *name, double t0, double t1, uint64_t bytes)
{
	char b[32];
	double gbit = t1 > t0 ? (double)bytes * 8 / (t1 - t0) / 1e9 : 0;

	bench_fmt_bytes(b, sizeof(b), (double)bytes);
	printf("[%-13s] %5.2f-%-5.2f sec  %12s  %6.2f Gbits/sec\n", name, t0, t1, b, gbit);
	fflush(stdout);
}

static const char *cipher_name(enum bench_cipher c)
{
	return c == CIPHER_AES128GCM ? "AES-128-GCM" : c == CIPHER_AES256GCM ? "AES-256-GCM" : "CHACHA20-POLY1305";
}

void bench_print_setup(const struct bench_run *run)
{
	const struct bench_opts *o = run->o;

	printf("ktlink bench: %s, %s, %ld CPUs\n", run->kernel, run->cpu_model, run->nproc);
	printf("  TLS %s %s, %u link%s, %s, %.1f s per path, %u round%s, certificates %s\n",
	       o->tls13 ? "1.3" : "1.2", cipher_name(o->cipher), o->links, o->links == 1 ? "" : "s",
	       o->direction == DIR_BOTH ? "both directions" : "one-way (client to server)", o->time_s,
	       o->repeat, o->repeat == 1 ? "" : "s", o->certs);
	fflush(stdout);
}

static void fmt_ratio(char *buf, size_t len, double r)
{
	if (r < 0)
		snprintf(buf, len, "%s", "-");
	else
		snprintf(buf, len, "%.2fx", r);
}

void bench_print_summary(const struct bench_run *run, size_t size)
{
	const struct bench_opts *o = run->o;
	unsigned i;

	printf("\n== size %zu bytes, %u link%s, %s, TLS %s %s ==\n", size, o->links, o->links == 1 ? "" : "s",
	       o->direction == DIR_BOTH ? "both ways" : "one-way", o->tls13 ? "1.3" : "1.2",
	       cipher_name(o->cipher));
	printf("%-14s %8s %9s %9s %9s %12s %7s %8s\n", "path", "Gbit/s", "MB/s", "cli CPU", "srv CPU",
	       "verified", "vs tcp", "vs ossl");
	for (i = 0; i < run->n_res; i++) {
		const struct bench_result *r = &run->res[i];
		char v[32], rt[16], ro[16];

		if (r->size != size)
			continue;
		/* Failed before it could run (a link did not come up) is a
		 * failure too, not a path this system lacks. */
		if (r->failed) {
			printf("%-14s FAILED: %s\n", bench_path_names[r->id], r->reason);
			continue;
		}
		if (!r->available) {
			printf("%-14s unavailable: %s\n", bench_path_names[r->id], r->reason);
			continue;
		}
		bench_fmt_bytes(v, sizeof(v), (double)r->verified);
		fmt_ratio(rt, sizeof(rt), r->ratio_tcp);
		fmt_ratio(ro, sizeof(ro), r->ratio_openssl);
		printf("%-14s %8.2f %9.1f %8.2fs %8.2fs %12s %7s %8s\n", bench_path_names[r->id], r->gbit_s,
		       r->mb_s, r->cpu_client, r->cpu_server, v, rt, ro);
	}
	for (i = 0; i < run->n_res; i++) {
		const struct bench_result *r = &run->res[i];

		if (r->size != size || !r->available || r->failed)
			continue;
		printf("  %-13s %s", bench_path_names[r->id], r->detail);
		if (r->runs > 1)
			printf("; median of %u rounds, %.2f-%.2f Gbit/s", r->runs, r->gbit_min, r->gbit_max);
		printf("\n");
	}
	if (run->o->repeat > 1)
		printf("  (vs tcp, vs ossl: the median of the ratios within each round, not the ratio of the\n"
		       "   medians above; a slow spell of the host then moves no ratio)\n");
	fflush(stdout);
}
